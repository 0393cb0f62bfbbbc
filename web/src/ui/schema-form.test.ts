import { describe, expect, it } from 'vitest';
import { fieldsOf, humanize, initialValues, serverErrors, toValue, variants, type JsonSchema } from './schema-form';

// Shapes as the connector catalog serves them (zod's JSON Schema output).
const httpCredentials: JsonSchema = {
  oneOf: [
    { type: 'object', properties: { type: { type: 'string', const: 'none' } }, required: ['type'] },
    { type: 'object', properties: { type: { type: 'string', const: 'bearer' }, token: { type: 'string', minLength: 1 } }, required: ['type', 'token'] },
    { type: 'object', properties: { type: { type: 'string', const: 'api_key' }, header: { default: 'x-api-key', type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' }, value: { type: 'string', minLength: 1 } }, required: ['type', 'value'] },
  ],
};
const emailConfig: JsonSchema = {
  type: 'object',
  properties: {
    host: { type: 'string', minLength: 1, maxLength: 253, description: 'SMTP server host name' },
    port: { default: 587, type: 'integer', minimum: 1, maximum: 65535 },
    secure: { default: false, type: 'boolean' },
    defaultTo: { type: 'array', maxItems: 2, items: { type: 'string', pattern: '^[^@\\s]+@[^@\\s]+$' } },
    visibility: { type: 'string', enum: ['public', 'private'] },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    baseUrl: { type: 'string', format: 'uri' },
  },
  required: ['host', 'port', 'baseUrl'],
};

describe('JSON-Schema form logic', () => {
  it('turns properties into typed fields, with defaults making a field optional', () => {
    const fields = fieldsOf(emailConfig, initialValues(emailConfig));
    expect(fields.map((f) => [f.name, f.kind, f.required])).toEqual([
      ['host', 'text', true],
      ['port', 'integer', false],
      ['secure', 'boolean', false],
      ['defaultTo', 'list', false],
      ['visibility', 'enum', false],
      ['headers', 'json', false],
      ['baseUrl', 'url', true],
    ]);
    expect(fields[0]!.label).toBe('Host');
    expect(fields[6]!.label).toBe('Base URL');
    expect(humanize('healthPath')).toBe('Health path');
    expect(humanize('client_id')).toBe('Client ID');
    expect(humanize('oauthBaseUrl')).toBe('OAuth base URL');
  });

  it('starts from defaults and from current values for an edit', () => {
    expect(initialValues(emailConfig)).toMatchObject({ host: '', port: '587', secure: false, defaultTo: '' });
    expect(initialValues(emailConfig, { host: 'smtp.example', defaultTo: ['a@b.c', 'd@e.f'], headers: { x: '1' } })).toMatchObject({ host: 'smtp.example', defaultTo: 'a@b.c\nd@e.f', headers: '{\n  "x": "1"\n}' });
  });

  it('converts raw text to typed values and reports every broken rule by field', () => {
    const good = toValue(emailConfig, { host: 'smtp.example', port: '465', secure: true, defaultTo: 'a@b.c\n\n d@e.f ', visibility: 'private', headers: '{"x":"1"}', baseUrl: 'https://api.example' });
    expect(good.errors).toEqual([]);
    expect(good.value).toEqual({ host: 'smtp.example', port: 465, secure: true, defaultTo: ['a@b.c', 'd@e.f'], visibility: 'private', headers: { x: '1' }, baseUrl: 'https://api.example' });

    const bad = toValue(emailConfig, { host: '', port: '70000', secure: false, defaultTo: 'a@b.c\nnot-an-address\nx@y.z', visibility: 'secret', headers: '{oops', baseUrl: 'example.com' });
    const byPath = Object.fromEntries(bad.errors.map((e) => [e.path, e.message]));
    expect(byPath.host).toBe('Required');
    expect(byPath.port).toBe('At most 65535');
    expect(byPath.defaultTo).toBe('At most 2 entries');
    expect(byPath['defaultTo.1']).toMatch(/format/);
    expect(byPath.visibility).toMatch(/One of public, private/);
    expect(byPath.headers).toBe('Not valid JSON');
    expect(byPath.baseUrl).toMatch(/full URL/);
    expect(toValue(emailConfig, { host: 'h', port: '1.5', baseUrl: 'https://x' }).errors).toEqual([{ path: 'port', message: 'A whole number' }]);
  });

  it('leaves empty optional fields out so the server applies its defaults', () => {
    const v = toValue(emailConfig, { host: 'h', port: '', secure: false, defaultTo: '', visibility: '', headers: '', baseUrl: 'https://x' });
    expect(v.errors).toEqual([]);
    expect(v.value).toEqual({ host: 'h', secure: false, baseUrl: 'https://x' });
  });

  it('offers the oneOf variants by their const and shows only the chosen one’s fields, secrets as password fields', () => {
    expect(variants(httpCredentials)?.key).toBe('type');
    expect(variants(httpCredentials)?.options.map((o) => o.value)).toEqual(['none', 'bearer', 'api_key']);
    expect(initialValues(httpCredentials)).toEqual({ type: 'none' });
    expect(fieldsOf(httpCredentials, { type: 'bearer' }, { secrets: true }).map((f) => [f.name, f.kind])).toEqual([['token', 'secret']]);
    expect(fieldsOf(httpCredentials, { type: 'api_key' }, { secrets: true }).map((f) => [f.name, f.kind])).toEqual([
      ['header', 'text'],
      ['value', 'secret'],
    ]);
    expect(toValue(httpCredentials, { type: 'bearer', token: '' }, { secrets: true }).errors).toEqual([{ path: 'token', message: 'Required' }]);
    expect(toValue(httpCredentials, { type: 'api_key', header: 'bad header!', value: 'k' }, { secrets: true }).errors[0]?.path).toBe('header');
    expect(toValue(httpCredentials, { type: 'bearer', token: 't0k' }, { secrets: true }).value).toEqual({ type: 'bearer', token: 't0k' });
    // Replacing a secret: empty fields keep the stored value, so nothing is required.
    expect(toValue(httpCredentials, { type: 'bearer', token: '' }, { secrets: true, keepEmpty: true })).toEqual({ value: { type: 'bearer' }, errors: [] });
  });

  it('maps the server’s problem+json field paths onto the form under its prefix', () => {
    const errs = [
      { path: 'config.url', message: 'Invalid URL' },
      { path: 'body.credentials.secret', message: 'a Standard Webhooks secret' },
      { path: 'config.headers.x', message: 'string expected' },
      { path: 'name', message: 'too long' },
    ];
    expect(serverErrors(errs, 'config')).toEqual({ url: 'Invalid URL', headers: 'string expected' });
    expect(serverErrors(errs, 'credentials')).toEqual({ secret: 'a Standard Webhooks secret' });
    expect(serverErrors(undefined, 'config')).toEqual({});
  });
});
