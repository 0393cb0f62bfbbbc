/** Turns a SQL statement into the labels of `database_query_duration_seconds`. */
export function classifyQuery(sql: string): { queryType: string; table: string } {
  const text = sql.replace(/--[^\n]*\n/g, ' ').trim();
  const first = /^\s*(\w+)/.exec(text)?.[1]?.toLowerCase() ?? 'other';
  let queryType: string;
  if (first === 'with') {
    // A CTE: the statement type is the first top-level DML verb after the CTE list.
    const verb = /\)\s*(select|insert|update|delete)\b/i.exec(text)?.[1]?.toLowerCase();
    queryType = verb ?? 'select';
  } else if (['select', 'insert', 'update', 'delete'].includes(first)) {
    queryType = first;
  } else if (['begin', 'commit', 'rollback', 'savepoint', 'release'].includes(first)) {
    queryType = 'transaction';
  } else {
    queryType = 'other';
  }
  const pattern =
    queryType === 'insert'
      ? /\binto\s+((?:"?[\w$]+"?\.)?"?[\w$]+"?)/i
      : queryType === 'update'
        ? /\bupdate\s+((?:"?[\w$]+"?\.)?"?[\w$]+"?)/i
        : /\bfrom\s+((?:"?[\w$]+"?\.)?"?[\w$]+"?)/i;
  const m = pattern.exec(text);
  const table = m?.[1] ? m[1].replace(/"/g, '').toLowerCase() : 'none';
  return { queryType, table };
}
