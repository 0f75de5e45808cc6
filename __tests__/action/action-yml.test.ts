import { describe, expect, test } from '@jest/globals'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { INPUT_DEFAULTS } from '../../src/inputs.js'
import { reportOutputs } from '../../src/report.js'
import { emptyFacts } from '../../src/facts.js'

interface ActionYml {
  name: string
  inputs: Record<string, { description: string; required?: boolean; default?: string }>
  outputs: Record<string, { description: string }>
  runs: { using: string; main: string; post?: string; 'post-if'?: string }
}

const action = parse(readFileSync('action.yml', 'utf8')) as ActionYml

describe('action.yml is the contract the code implements', () => {
  test('runs the committed bundle on node24, with an always-run cleanup step', () => {
    expect(action.name).toBe('provenance-gate')
    expect(action.runs).toEqual({
      using: 'node24',
      main: 'dist/index.js',
      post: 'dist/index.js',
      'post-if': 'always()'
    })
  })

  test('declares exactly the inputs the code reads', () => {
    expect(Object.keys(action.inputs).sort()).toEqual(Object.keys(INPUT_DEFAULTS).sort())
  })

  test.each(Object.entries(INPUT_DEFAULTS))('input %s: documented, default %p', (name, value) => {
    const input = action.inputs[name]
    expect(input?.description.length).toBeGreaterThan(10)
    if (name === 'image') {
      expect(input?.required).toBe(true)
    } else {
      expect(input?.default).toBe(value)
    }
  })

  test('declares exactly the outputs the code sets', () => {
    const set = reportOutputs({
      decision: { verdict: 'disabled', reason: '', pass: true, failure: '' },
      facts: emptyFacts(),
      repository: '',
      mode: '',
      where: '',
      image: '',
      totalMs: 0
    })
    expect(Object.keys(action.outputs).sort()).toEqual(Object.keys(set).sort())
  })
})
