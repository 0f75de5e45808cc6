import { describe, expect, test } from '@jest/globals'
import type { FailureClass } from '../../src/errors.js'
import type { ProcessResult } from '../../src/process.js'
import { connectError } from '../../src/ssh-runner.js'

const WHERE = 'deploy@staging.example.com:22'

function result(overrides: Partial<ProcessResult>): ProcessResult {
  return { exitCode: 255, timedOut: false, stdout: '', outputTail: '', ...overrides }
}

describe('connectError', () => {
  test.each<[string, Partial<ProcessResult>, FailureClass, string]>([
    [
      'ssh missing on the runner',
      { exitCode: null, spawnError: 'spawn ssh ENOENT' },
      'transport',
      'cannot run ssh on this runner: spawn ssh ENOENT'
    ],
    [
      'connect timed out',
      { exitCode: null, timedOut: true },
      'transport',
      `ssh connection to ${WHERE} timed out after 45 s`
    ],
    [
      'host key verification failed',
      {
        outputTail:
          'No ED25519 host key is known for staging.example.com and you have requested strict checking.\r\nHost key verification failed.\r\n'
      },
      'host-key',
      `ssh host key of ${WHERE} does not match known-hosts (the hook did not run): No ED25519 host key is known for staging.example.com and you have requested strict checking. ⏎ Host key verification failed.`
    ],
    [
      'host key changed',
      {
        outputTail:
          '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n'
      },
      'host-key',
      'REMOTE HOST IDENTIFICATION HAS CHANGED'
    ],
    [
      'connection refused',
      { outputTail: 'ssh: connect to host staging.example.com port 22: Connection refused\n' },
      'transport',
      `ssh connection to ${WHERE} failed: ssh: connect to host staging.example.com port 22: Connection refused`
    ],
    [
      'authentication failed',
      { outputTail: 'deploy@staging.example.com: Permission denied (publickey).\n' },
      'transport',
      'Permission denied (publickey).'
    ],
    [
      'no output at all',
      { outputTail: '' },
      'transport',
      `ssh connection to ${WHERE} failed: exit 255`
    ]
  ])('%s', (_name, overrides, failure, mentions) => {
    const error = connectError(WHERE, result(overrides))
    expect(error.failure).toBe(failure)
    expect(error.message).toContain(mentions)
  })
})
