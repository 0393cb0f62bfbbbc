import { describe, expect, it } from 'vitest';
import { OpenApiContract } from './helpers/openapi-contract.js';

const contract = new OpenApiContract({
  paths: {
    '/v1/things/{id}': {
      get: {
        responses: {
          '200': { content: { 'application/json': { schema: { type: 'object', required: ['thing'], properties: { thing: { $ref: '#/components/schemas/Thing' } } } } } },
          '404': { content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
        },
      },
      delete: { responses: { '204': {} } },
    },
  },
  components: {
    schemas: {
      Thing: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } }, additionalProperties: false },
      Problem: { type: 'object', required: ['code'], properties: { code: { type: 'string' } } },
    },
  },
});
const json = (status: number, body: unknown, type = 'application/json') => ({ statusCode: status, headers: { 'content-type': `${type}; charset=utf-8` }, body: JSON.stringify(body) });
const id = '5b0c1a8e-3f3e-4c8e-9a43-0d1b2b7c9e10';

describe('the OpenAPI response check the HTTP suites run', () => {
  it('accepts a response the document describes, refs included', () => {
    expect(contract.violations('GET', `/v1/things/${id}?x=1`, json(200, { thing: { id } }))).toEqual([]);
    expect(contract.violations('GET', `/v1/things/${id}`, json(404, { code: 'not_found' }, 'application/problem+json'))).toEqual([]);
    expect(contract.violations('DELETE', `/v1/things/${id}`, { statusCode: 204, headers: {}, body: '' })).toEqual([]);
  });

  it('fails on an undocumented status, an undocumented content type, a body off its schema, or a body where none is documented', () => {
    expect(contract.violations('GET', `/v1/things/${id}`, json(409, { code: 'conflict' }, 'application/problem+json'))[0]).toMatch(/409: status not documented/);
    expect(contract.violations('GET', `/v1/things/${id}`, json(404, { code: 'not_found' }))[0]).toMatch(/content type application\/json not documented/);
    expect(contract.violations('GET', `/v1/things/${id}`, json(200, { thing: { id: 'nope', extra: 1 } }))[0]).toMatch(/does not match the documented schema: .*(format|additional)/);
    expect(contract.violations('DELETE', `/v1/things/${id}`, json(204, { gone: true }))[0]).toMatch(/documented without a body/);
  });

  it('leaves alone requests no operation matches (unknown paths, wrong methods)', () => {
    expect(contract.violations('GET', '/nowhere', json(404, {}))).toEqual([]);
    expect(contract.violations('PUT', `/v1/things/${id}`, json(405, {}))).toEqual([]);
  });
});
