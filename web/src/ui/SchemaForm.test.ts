import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { SchemaForm } from './SchemaForm';
import type { JsonSchema } from './schema-form';

const schema: JsonSchema = {
  oneOf: [
    { type: 'object', properties: { type: { type: 'string', const: 'none' } }, required: ['type'] },
    { type: 'object', properties: { type: { type: 'string', const: 'basic' }, username: { type: 'string', minLength: 1, description: 'Login name' }, password: { type: 'string' } }, required: ['type', 'username', 'password'] },
  ],
};

const render = (values: Record<string, string | boolean>, errors: Record<string, string> = {}) =>
  renderToStaticMarkup(createElement(SchemaForm, { legend: 'Credentials', schema, values, onChange: () => undefined, errors, secrets: true }));

describe('SchemaForm rendering', () => {
  it('renders a labelled variant choice and the chosen variant’s fields, secrets as password inputs', () => {
    const html = render({ type: 'basic', username: 'ada', password: '' });
    expect(html).toContain('<legend>Credentials</legend>');
    expect(html).toMatch(/<label for="[^"]+">Type<\/label><select[^>]*name="type"/);
    expect(html).toMatch(/<option value="basic" selected="">basic<\/option>/);
    expect(html).toContain('Username (required)');
    expect(html).toContain('Login name');
    expect(html).toMatch(/<input[^>]*type="password"[^>]*name="password"|<input[^>]*name="password"[^>]*type="password"/);
    expect(html).toMatch(/<input[^>]*type="text"[^>]*value="ada"|<input[^>]*value="ada"[^>]*type="text"/);
  });

  it('shows the error next to its field and marks it invalid', () => {
    const html = render({ type: 'basic', username: '', password: '' }, { username: 'Required' });
    expect(html).toMatch(/aria-invalid="true"[^>]*name="username"|name="username"[^>]*aria-invalid="true"/);
    expect(html).toContain('Required');
  });

  it('renders only the choice for a variant with no fields', () => {
    const html = render({ type: 'none' });
    expect(html).not.toContain('Username');
    expect(html).toContain('Nothing to fill in.');
  });
});
