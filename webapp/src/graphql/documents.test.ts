// Every document the SPA sends must validate against graph/schema/*.graphqls,
// so a typo or a renamed field fails here rather than against the server.
import { describe, expect, it } from 'vitest'
import { buildSchema, validate, type DocumentNode } from 'graphql'
import * as main from './documents'
import * as access from './access'
import * as figures from './figures'
import * as views from './views'
import * as incidents from './incidents'
import * as viewkit from './viewkit'

const documents = { ...main, ...access, ...figures, ...views, ...incidents, ...viewkit }

const files = import.meta.glob('../../../graph/schema/*.graphqls', { query: '?raw', import: 'default', eager: true })
const schema = buildSchema(Object.values(files as Record<string, string>).join('\n'))

describe('GraphQL documents', () => {
  const docs = Object.entries(documents).filter(([, v]) => typeof v === 'object' && v !== null && 'kind' in v)
  it('finds the documents and the schema files', () => {
    expect(Object.keys(files).length).toBeGreaterThanOrEqual(4)
    expect(docs.length).toBeGreaterThanOrEqual(10)
  })
  it.each(docs)('%s validates against the schema', (_name, doc) => {
    const errors = validate(schema, doc as unknown as DocumentNode).map((e) => e.message)
    expect(errors).toEqual([])
  })
})
