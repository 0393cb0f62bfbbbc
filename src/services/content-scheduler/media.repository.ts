import { sql } from 'drizzle-orm';
import type { Db, DbExecutor } from '../../kernel/db/database.js';
import { rows } from '../../kernel/db/rows.js';

export interface MediaRow {
  id: string;
  workspace_id: string;
  object_key: string;
  file_name: string;
  content_type: string;
  size_bytes: string | number;
  sha256: string;
  alt_text: string | null;
  uploaded_by: string | null;
  created_at: Date;
}

/** content.media: the rows of uploaded files (their bytes live in object storage under object_key). */
export class MediaRepository {
  constructor(private readonly db: Db) {}

  async insert(m: { id: string; workspaceId: string; objectKey: string; fileName: string; contentType: string; sizeBytes: number; sha256: string; altText: string | null; uploadedBy: string | null; createdAt: string }): Promise<void> {
    await this.db.execute(sql`
        INSERT INTO content.media (id, workspace_id, object_key, file_name, content_type, size_bytes, sha256, alt_text, uploaded_by, created_at)
        VALUES (${m.id}, ${m.workspaceId}, ${m.objectKey}, ${m.fileName}, ${m.contentType}, ${m.sizeBytes}, ${m.sha256}, ${m.altText}, ${m.uploadedBy}, ${m.createdAt})`);
  }

  async get(workspaceId: string, mediaId: string): Promise<MediaRow | null> {
    const [r] = await rows<MediaRow>(this.db, sql`SELECT * FROM content.media WHERE workspace_id = ${workspaceId} AND id = ${mediaId}`);
    return r ?? null;
  }

  async setAltText(workspaceId: string, mediaId: string, altText: string | null): Promise<MediaRow | null> {
    const [r] = await rows<MediaRow>(this.db, sql`UPDATE content.media SET alt_text = ${altText} WHERE workspace_id = ${workspaceId} AND id = ${mediaId} RETURNING *`);
    return r ?? null;
  }

  async many(workspaceId: string, ids: string[], ex: DbExecutor = this.db): Promise<MediaRow[]> {
    return rows<MediaRow>(ex, sql`SELECT * FROM content.media WHERE workspace_id = ${workspaceId} AND id = ANY(string_to_array(${ids.join(',')}, ',')::uuid[])`);
  }

  async ofUser(userId: string): Promise<MediaRow[]> {
    return rows<MediaRow>(this.db, sql`SELECT * FROM content.media WHERE uploaded_by = ${userId} ORDER BY created_at`);
  }

  /** Deletes the user's uploads (erasure); returns the object keys to remove from storage. */
  async deleteOfUser(userId: string): Promise<string[]> {
    return this.deleteWhere(sql`uploaded_by = ${userId}`);
  }

  /** Deletes uploads older than `before` that no post of their workspace refers to; returns their object keys. */
  async deleteUnattached(before: Date): Promise<string[]> {
    return this.deleteWhere(
      sql`created_at < ${before.toISOString()} AND NOT EXISTS (SELECT 1 FROM content.posts p WHERE p.workspace_id = content.media.workspace_id AND content.media.id = ANY(p.media_ids))`,
    );
  }

  private async deleteWhere(where: ReturnType<typeof sql>): Promise<string[]> {
    return (await rows<{ object_key: string }>(this.db, sql`DELETE FROM content.media WHERE ${where} RETURNING object_key`)).map((g) => g.object_key);
  }
}
