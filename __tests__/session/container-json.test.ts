import { describe, expect, test } from '@jest/globals'
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ContainerState } from '../../src/decide/container.js'
import {
  parseContainerInspect,
  parseImageInspect,
  type InspectResult
} from '../../src/session/container-json.js'

/** Real stdout of `image inspect --` / `container inspect --`, captured from docker.io 20.10 and podman 4.3. */
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../__fixtures__')
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8')

const REVISION = '0123456789abcdef0123456789abcdef01234567'
const DOCKER_LABELLED = 'sha256:7e9c89ee2b92a6e6c55f5b92c6cec329594ced62c63337cfe006b83285613cd4'
const DOCKER_PLAIN = 'sha256:0d95bb90bec79347ff224088119ce02a25a05518668db8f93e4cda612bc48dba'
const PODMAN_LABELLED = 'sha256:0c56d4fc86a0bd27354526b03ba3c308259cc51f783154dc814ebb1eb0404f19'
const PODMAN_PLAIN = 'sha256:88210e1694ffcd15bac1280cd86a55cea6389c6c7427306881e362efc7386ec4'
const HEX = 'c'.repeat(64)

type Json = Record<string, unknown>
/** The first element of a fixture, changed by `edit`, printed back as a one-element array. */
function edited(name: string, edit: (element: Json) => void): string {
  const element = (JSON.parse(fixture(name)) as Json[])[0] as Json
  edit(element)
  return JSON.stringify([element])
}
/** Every element of a fixture, the one at `index` changed by `edit`. */
function editedAt(name: string, index: number, edit: (element: Json) => void): string {
  const elements = JSON.parse(fixture(name)) as Json[]
  edit(elements[index] as Json)
  return JSON.stringify(elements)
}
const config = (element: Json): Json => element.Config as Json
const state = (element: Json): Json => element.State as Json

describe('parseImageInspect on real output', () => {
  test.each<[string, InspectResult]>([
    [
      'docker-20.10-image-labelled.json',
      {
        imageId: DOCKER_LABELLED,
        labels: { 'com.example.note': 'a b', 'org.opencontainers.image.revision': REVISION }
      }
    ],
    ['docker-20.10-image-no-labels.json', { imageId: DOCKER_PLAIN, labels: {} }],
    [
      'podman-4.3-image-labelled.json',
      {
        imageId: PODMAN_LABELLED,
        labels: {
          'com.example.note': 'a b',
          'io.buildah.version': '1.28.2',
          'org.opencontainers.image.revision': REVISION
        }
      }
    ],
    [
      'podman-4.3-image-built-no-label-instruction.json',
      { imageId: PODMAN_PLAIN, labels: { 'io.buildah.version': '1.28.2' } }
    ],
    // The docker-built image loaded into podman: no Config.Labels at all, top-level Labels null.
    ['podman-4.3-image-no-labels.json', { imageId: DOCKER_PLAIN, labels: {} }]
  ])('%s', (name, expected) => {
    expect(parseImageInspect(fixture(name))).toEqual(expected)
  })
})

describe('parseImageInspect fails closed', () => {
  const docker = 'docker-20.10-image-labelled.json'
  const podman = 'podman-4.3-image-labelled.json'
  const twoImages = JSON.stringify([
    ...(JSON.parse(fixture(docker)) as Json[]),
    ...(JSON.parse(fixture('docker-20.10-image-no-labels.json')) as Json[])
  ])
  test.each<[string, string]>([
    ['empty array (no such image)', '[]\n'],
    ['two images', twoImages],
    ['empty stdout', ''],
    ['not JSON', 'Error: No such image: shop'],
    ['truncated JSON', fixture(docker).slice(0, 200)],
    ['an object, not an array', JSON.stringify((JSON.parse(fixture(docker)) as Json[])[0])],
    ['an array of a string', '["sha256:' + HEX + '"]'],
    ['an array of null', '[null]'],
    ['id missing', edited(docker, e => delete e.Id)],
    ['id a number', edited(docker, e => (e.Id = 42))],
    ['id too short', edited(docker, e => (e.Id = 'sha256:' + 'c'.repeat(63)))],
    ['id too long', edited(podman, e => (e.Id = 'c'.repeat(65)))],
    ['id in upper case', edited(docker, e => (e.Id = 'sha256:' + 'C'.repeat(64)))],
    ['id with another algorithm', edited(docker, e => (e.Id = 'sha512:' + HEX))],
    ['id with a newline', edited(podman, e => (e.Id = HEX + '\n'))],
    ['id as a short id', edited(podman, e => (e.Id = HEX.slice(0, 12)))],
    ['Id and ID both present', edited(docker, e => (e.ID = e.Id))],
    ['only ID (podman template spelling)', edited(docker, e => ((e.ID = e.Id), delete e.Id))],
    ['Config and config both present', edited(docker, e => (e.config = { Labels: {} }))],
    ['only config in lower case', edited(docker, e => ((e.config = e.Config), delete e.Config))],
    ['Labels and labels in Config', edited(docker, e => (config(e).labels = { a: 'b' }))],
    ['two unread keys that differ in case', edited(docker, e => (e.architecture = 'arm64'))],
    [
      'two unread keys in Config that differ in case',
      edited(docker, e => (config(e).cmd = ['/bin/true']))
    ],
    ['Config a string', edited(docker, e => (e.Config = 'x'))],
    ['Config an array', edited(docker, e => (e.Config = []))],
    ['Labels an array', edited(docker, e => (config(e).Labels = ['a=b']))],
    ['Labels a string', edited(docker, e => (config(e).Labels = 'a=b'))],
    ['a label with a number value', edited(docker, e => (config(e).Labels = { a: 1 }))],
    ['a label with a null value', edited(docker, e => (config(e).Labels = { a: null }))],
    ['a label with an object value', edited(docker, e => (config(e).Labels = { a: {} }))],
    [
      'podman top-level Labels with another revision',
      edited(
        podman,
        e => ((e.Labels as Json)['org.opencontainers.image.revision'] = 'f'.repeat(40))
      )
    ],
    [
      'podman top-level Labels with one more label',
      edited(podman, e => ((e.Labels as Json).x = 'y'))
    ],
    [
      'podman top-level Labels with one label less',
      edited(podman, e => delete (e.Labels as Json)['com.example.note'])
    ],
    ['podman top-level Labels null, Config has labels', edited(podman, e => (e.Labels = null))],
    ['podman top-level Labels {} , Config has labels', edited(podman, e => (e.Labels = {}))],
    [
      'podman top-level Labels set, Config.Labels absent',
      edited('podman-4.3-image-no-labels.json', e => (e.Labels = { a: 'b' }))
    ],
    ['podman top-level Labels malformed', edited(podman, e => (e.Labels = 'x'))],
    ['top-level Labels and labels', edited(podman, e => (e.labels = e.Labels))]
  ])('%s', (_what, stdout) => {
    expect(parseImageInspect(stdout)).toBeUndefined()
  })

  test('the edits above change only what they say: the unedited fixtures parse', () => {
    expect(parseImageInspect(edited(docker, () => undefined))).toBeDefined()
    expect(parseImageInspect(edited(podman, () => undefined))).toBeDefined()
  })
})

describe('parseImageInspect keeps what the gate reads exact', () => {
  test.each<[string, string, InspectResult]>([
    [
      'a label named __proto__ stays a label',
      '[{"Id":"' + HEX + '","Config":{"Labels":{"__proto__":"x"}}}]',
      {
        imageId: `sha256:${HEX}`,
        labels: JSON.parse('{"__proto__":"x"}') as Record<string, string>
      }
    ],
    [
      'labels that differ only in case are two labels (Go maps are case-sensitive)',
      '[{"Id":"sha256:' + HEX + '","Config":{"Labels":{"A":"1","a":"2"}}}]',
      { imageId: `sha256:${HEX}`, labels: { A: '1', a: '2' } }
    ],
    [
      'Config null',
      '[{"Id":"sha256:' + HEX + '","Config":null}]',
      { imageId: `sha256:${HEX}`, labels: {} }
    ],
    ['Config absent', '[{"Id":"' + HEX + '"}]', { imageId: `sha256:${HEX}`, labels: {} }],
    [
      'podman both copies null/absent',
      '[{"Id":"' + HEX + '","Config":{},"Labels":null}]',
      { imageId: `sha256:${HEX}`, labels: {} }
    ]
  ])('%s', (_what, stdout, expected) => {
    expect(parseImageInspect(stdout)).toEqual(expected)
  })
})

describe('parseContainerInspect on real output', () => {
  test.each<[string, ContainerState[]]>([
    [
      'docker-20.10-containers.json',
      [
        { name: 'fx-running', imageId: DOCKER_LABELLED, running: true },
        { name: 'fx-stopped', imageId: DOCKER_PLAIN, running: false },
        { name: 'fx-exited', imageId: DOCKER_PLAIN, running: false }
      ]
    ],
    [
      'podman-4.3-containers.json',
      [
        { name: 'fx-running', imageId: PODMAN_LABELLED, running: true },
        { name: 'fx-stopped', imageId: PODMAN_PLAIN, running: false },
        { name: 'fx-exited', imageId: PODMAN_PLAIN, running: false }
      ]
    ]
  ])('%s', (name, expected) => {
    expect(parseContainerInspect(fixture(name))).toEqual(expected)
  })
})

describe('parseContainerInspect fails closed', () => {
  const docker = 'docker-20.10-containers.json'
  const podman = 'podman-4.3-containers.json'
  test.each<[string, string]>([
    ['empty array (no such container)', '[]\n'],
    ['empty stdout', ''],
    ['not JSON', 'Error: No such container: shop'],
    ['truncated JSON', fixture(podman).slice(0, 500)],
    ['an object, not an array', '{}'],
    ['an array of null', '[null]'],
    ['an array of an array', '[[]]'],
    ['Name missing', editedAt(docker, 1, e => delete e.Name)],
    ['Name empty', editedAt(docker, 0, e => (e.Name = ''))],
    ['Name only a slash', editedAt(docker, 0, e => (e.Name = '/'))],
    ['Name with two slashes', editedAt(docker, 0, e => (e.Name = '//x'))],
    ['Name with a newline', editedAt(podman, 0, e => (e.Name = 'a\nb'))],
    ['Name with a space', editedAt(podman, 0, e => (e.Name = 'a b'))],
    ['Name a number', editedAt(podman, 0, e => (e.Name = 1))],
    ['Image missing', editedAt(docker, 2, e => delete e.Image)],
    ['Image a name, not an id', editedAt(podman, 0, e => (e.Image = 'localhost/shop:latest'))],
    ['Image a short id', editedAt(podman, 0, e => (e.Image = HEX.slice(0, 12)))],
    ['Image in upper case', editedAt(docker, 0, e => (e.Image = 'sha256:' + 'C'.repeat(64)))],
    ['Image and image', editedAt(docker, 0, e => (e.image = e.Image))],
    ['only ImageID (no Image)', editedAt(podman, 0, e => ((e.ImageID = e.Image), delete e.Image))],
    ['Name and NAME', editedAt(podman, 1, e => (e.NAME = 'other'))],
    ['two unread keys that differ in case', editedAt(docker, 0, e => (e.driver = 'overlay2'))],
    ['two unread keys in State that differ in case', editedAt(podman, 0, e => (state(e).pid = 1))],
    ['State missing', editedAt(docker, 0, e => delete e.State)],
    ['State null', editedAt(docker, 0, e => (e.State = null))],
    ['State a string', editedAt(podman, 0, e => (e.State = 'running'))],
    ['State and state', editedAt(docker, 0, e => (e.state = e.State))],
    ['Running missing', editedAt(docker, 0, e => delete state(e).Running)],
    ['Running a string', editedAt(podman, 0, e => (state(e).Running = 'true'))],
    ['Running a number', editedAt(podman, 0, e => (state(e).Running = 1))],
    ['Running and running', editedAt(docker, 1, e => (state(e).running = true))],
    [
      'only running in lower case',
      editedAt(docker, 0, e => ((state(e).running = true), delete state(e).Running))
    ],
    [
      'one good element and one null',
      JSON.stringify([...(JSON.parse(fixture(docker)) as Json[]), null])
    ]
  ])('%s', (_what, stdout) => {
    expect(parseContainerInspect(stdout)).toBeUndefined()
  })

  test('the edits above change only what they say: the unedited fixtures parse', () => {
    expect(parseContainerInspect(editedAt(docker, 0, () => undefined))).toHaveLength(3)
    expect(parseContainerInspect(editedAt(podman, 0, () => undefined))).toHaveLength(3)
  })
})
