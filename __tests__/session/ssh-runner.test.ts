import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { GateError, InputError, type FailureClass } from '../../src/errors.js'
import type { ProcessResult } from '../../src/session/process.js'
import {
  connectError,
  parseKeyscan,
  SshRunner,
  type OfferedKey,
  type SshResources
} from '../../src/session/ssh-runner.js'
import { sshTarget } from '../support/fixtures.js'

const WHERE = 'deploy@staging.example.com:22'

function result(overrides: Partial<ProcessResult>): ProcessResult {
  return { exitCode: 255, timedOut: false, stdout: '', outputTail: '', ...overrides }
}

const ED: OfferedKey = {
  line: 'staging.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIed',
  type: 'ssh-ed25519',
  fingerprint: 'SHA256:edEDedEDedEDedEDedEDedEDedEDedEDedEDedEDedE'
}
const EC: OfferedKey = {
  line: 'staging.example.com ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYec',
  type: 'ecdsa-sha2-nistp256',
  fingerprint: 'SHA256:ecECecECecECecECecECecECecECecECecECecECecE'
}
const RSA: OfferedKey = {
  line: 'staging.example.com ssh-rsa AAAAB3NzaC1yc2Ersa',
  type: 'ssh-rsa',
  fingerprint: 'SHA256:rsaRSArsaRSArsaRSArsaRSArsaRSArsaRSArsaRSAr'
}

const UNKNOWN_ED25519 =
  'No ED25519 host key is known for staging.example.com and you have requested strict checking.\r\nHost key verification failed.\r\n'
const CHANGED = (type: string): string =>
  [
    '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
    '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
    '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
    'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
    `The fingerprint for the ${type} key sent by the remote host is`,
    'SHA256:somethingelse.',
    `Host key for staging.example.com has changed and you have requested strict checking.`,
    'Host key verification failed.',
    ''
  ].join('\n')

const pinAdvice = (key: OfferedKey): string =>
  `The host offered ${key.type} ${key.fingerprint}. If that is your staging host's key (compare with \`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub\` on the host), pin this line in known-hosts: ${key.line}`
const NO_KEY_ADVICE =
  'Run ssh-keyscan against the host from a network you trust, compare the fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the host, and pin the line in known-hosts.'
const NOT_PINNED = `ssh host key of ${WHERE} does not match the pinned known-hosts (the hook did not run).`
const CHANGED_PINNED = `ssh host key of ${WHERE} has CHANGED from the pinned known-hosts (the hook did not run).`

describe('connectError', () => {
  test.each<[string, Partial<ProcessResult>, OfferedKey[], FailureClass, boolean, string]>([
    [
      'ssh missing on the runner',
      { exitCode: null, spawnError: 'spawn ssh ENOENT' },
      [],
      'transport',
      false,
      'cannot run ssh on this runner: spawn ssh ENOENT'
    ],
    [
      'connect timed out',
      { exitCode: null, timedOut: true, outputTail: 'Permission denied' },
      [],
      'transport',
      true,
      `ssh connection to ${WHERE} timed out after 45 s`
    ],
    [
      'unknown ED25519 host key, the host offers rsa and ed25519',
      { outputTail: UNKNOWN_ED25519 },
      [RSA, ED],
      'host-key',
      false,
      `${NOT_PINNED} ${pinAdvice(ED)}`
    ],
    [
      'changed ECDSA host key',
      { outputTail: CHANGED('ECDSA') },
      [ED, RSA, EC],
      'host-key',
      false,
      `${CHANGED_PINNED} ${pinAdvice(EC)}`
    ],
    [
      'changed RSA host key',
      { outputTail: CHANGED('RSA') },
      [ED, EC, RSA],
      'host-key',
      false,
      `${CHANGED_PINNED} ${pinAdvice(RSA)}`
    ],
    [
      'the named type is not among the offered keys: the first one is shown',
      { outputTail: CHANGED('RSA') },
      [EC, ED],
      'host-key',
      false,
      `${CHANGED_PINNED} ${pinAdvice(EC)}`
    ],
    [
      'no type named: ed25519 is shown',
      { outputTail: 'Host key verification failed.\n' },
      [EC, ED, RSA],
      'host-key',
      false,
      `${NOT_PINNED} ${pinAdvice(ED)}`
    ],
    [
      'host key failed and ssh-keyscan found nothing',
      { outputTail: UNKNOWN_ED25519 },
      [],
      'host-key',
      false,
      `${NOT_PINNED} ${NO_KEY_ADVICE}`
    ],
    [
      'host key not known (older wording)',
      {
        outputTail:
          'Host key for staging.example.com not known and you have requested strict checking.\n'
      },
      [],
      'host-key',
      false,
      `${NOT_PINNED} ${NO_KEY_ADVICE}`
    ],
    [
      'authentication refused',
      { outputTail: 'deploy@staging.example.com: Permission denied (publickey).\n' },
      [],
      'transport',
      false,
      `ssh login to ${WHERE} refused (deploy@staging.example.com: Permission denied (publickey).): the host does not accept private-key for this user; check user and the key's line in authorized_keys (not retried)`
    ],
    [
      'too many authentication failures',
      {
        outputTail:
          'Received disconnect from 10.0.0.5 port 22:2: Too many authentication failures\n'
      },
      [],
      'transport',
      false,
      `ssh login to ${WHERE} refused (Received disconnect from 10.0.0.5 port 22:2: Too many authentication failures): the host does not accept private-key for this user; check user and the key's line in authorized_keys (not retried)`
    ],
    [
      'connection refused',
      { outputTail: 'ssh: connect to host staging.example.com port 22: Connection refused\n' },
      [],
      'transport',
      true,
      `ssh connection to ${WHERE} failed: ssh: connect to host staging.example.com port 22: Connection refused`
    ],
    [
      'name not resolved',
      {
        outputTail:
          'ssh: Could not resolve hostname staging.example.com: Temporary failure in name resolution\n'
      },
      [],
      'transport',
      true,
      `ssh connection to ${WHERE} failed: ssh: Could not resolve hostname staging.example.com: Temporary failure in name resolution`
    ],
    [
      'connection reset before the key exchange',
      { outputTail: 'kex_exchange_identification: read: Connection reset by peer\r\n' },
      [],
      'transport',
      true,
      `ssh connection to ${WHERE} failed: kex_exchange_identification: read: Connection reset by peer`
    ],
    [
      'no output at all',
      { outputTail: '' },
      [],
      'transport',
      true,
      `ssh connection to ${WHERE} failed: exit 255`
    ]
  ])('%s', (_name, overrides, offered, failure, retryable, message) => {
    const error = connectError(WHERE, result(overrides), offered)
    expect(error).toBeInstanceOf(GateError)
    expect(error.failure).toBe(failure)
    expect(error.retryable).toBe(retryable)
    expect(error.message).toBe(message)
  })

  test('offered keys default to none', () => {
    expect(connectError(WHERE, result({ outputTail: UNKNOWN_ED25519 })).message).toBe(
      `${NOT_PINNED} ${NO_KEY_ADVICE}`
    )
  })
})

/** What OpenSSH 9.2 prints when the host's key is on an `@revoked` line (tried for real). */
const REVOKED = [
  '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
  '@       WARNING: REVOKED HOST KEY DETECTED!               @',
  '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
  'The ED25519 host key for staging.example.com is marked as revoked.',
  'This could mean that a stolen key is being used to',
  'impersonate this host.',
  'ED25519 host key for staging.example.com was revoked and you have requested strict checking.',
  'Host key verification failed.',
  ''
].join('\n')
const revokedLine = (key: OfferedKey): string => `@revoked ${key.line}`
const REVOKED_ADVICE =
  "A revoked key may be in someone else's hands: do not pin it again. Find out why it was revoked; if the host has a new key, check its fingerprint out of band (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the host) and pin that key in known-hosts."

describe('connectError with a revoked host key', () => {
  test.each<[string, string, OfferedKey[], string, string]>([
    [
      "ssh's revoked-key refusal, the host offers the revoked key",
      REVOKED,
      [RSA, ED],
      `${revokedLine(ED)}\n`,
      `ssh host key of ${WHERE} is REVOKED in known-hosts: an @revoked line lists the key the host offered (ssh-ed25519 ${ED.fingerprint}), so ssh refused it (the hook did not run). ${REVOKED_ADVICE}`
    ],
    [
      "ssh's revoked-key refusal, nothing offered",
      REVOKED,
      [],
      `${revokedLine(ED)}\n`,
      `ssh host key of ${WHERE} is REVOKED in known-hosts: an @revoked line lists the key the host offered, so ssh refused it (the hook did not run). ${REVOKED_ADVICE}`
    ],
    [
      // ssh 9.2 words a key that is both revoked and pinned as "not known": the keyscan tells.
      'revoked and pinned: ssh says not known, the offered key is on the @revoked line',
      UNKNOWN_ED25519,
      [ED],
      `${revokedLine(ED)}\n${ED.line}\n`,
      `ssh host key of ${WHERE} is REVOKED in known-hosts: an @revoked line lists the key the host offered (ssh-ed25519 ${ED.fingerprint}), so ssh refused it (the hook did not run). ${REVOKED_ADVICE}`
    ],
    [
      'a revoked old key and an unknown new one: the new one may be pinned',
      UNKNOWN_ED25519,
      [ED],
      `${revokedLine(EC)}\n`,
      `${NOT_PINNED} ${pinAdvice(ED)}`
    ],
    [
      'a revoked key is never offered for pinning, another offered key is',
      CHANGED('RSA'),
      [RSA, EC],
      `${revokedLine(RSA)}\n`,
      `ssh host key of ${WHERE} is REVOKED in known-hosts: an @revoked line lists the key the host offered (ssh-rsa ${RSA.fingerprint}), so ssh refused it (the hook did not run). ${REVOKED_ADVICE}`
    ]
  ])('%s', (_name, outputTail, offered, knownHosts, message) => {
    const error = connectError(WHERE, result({ outputTail }), offered, knownHosts)
    expect(error.failure).toBe('host-key')
    expect(error.retryable).toBe(false)
    expect(error.message).toBe(message)
    if (/REVOKED/.test(message)) expect(error.message).not.toMatch(/pin this line/)
  })
})

let root: string

beforeAll(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-ssh-')))
})

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true })
})

/** Generates a key pair with ssh-keygen; returns the private key file's path. */
function generateKey(name: string, type: string, passphrase = ''): string {
  const file = path.join(root, name)
  const bits = type === 'rsa' ? ['-b', '2048'] : []
  const made = spawnSync('ssh-keygen', [
    '-q',
    '-t',
    type,
    ...bits,
    '-N',
    passphrase,
    '-C',
    'test',
    '-f',
    file
  ])
  expect(made.status).toBe(0)
  return file
}

describe('parseKeyscan', () => {
  test.each([
    ['ed25519', 'staging.example.com'],
    ['ecdsa', '[127.0.0.1]:2222'],
    ['rsa', '10.0.0.5']
  ])('a %s key from %s has the fingerprint ssh-keygen -lf prints', (type, host) => {
    const file = generateKey(`scan-${type}`, type)
    const [keyType = '', blob = ''] = fs.readFileSync(`${file}.pub`, 'utf8').trim().split(' ')
    const listed = spawnSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' })
    expect(listed.status).toBe(0)
    const fingerprint = listed.stdout.split(' ')[1]
    expect(fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)

    expect(parseKeyscan(`${host} ${keyType} ${blob}\n`)).toEqual([
      { line: `${host} ${keyType} ${blob}`, type: keyType, fingerprint }
    ])
  })

  test('several keys, comments, blank lines and junk: only the well-formed key lines', () => {
    const file = generateKey('scan-many', 'ed25519')
    const [keyType = '', blob = ''] = fs.readFileSync(`${file}.pub`, 'utf8').trim().split(' ')
    const stdout = [
      '# staging.example.com:22 SSH-2.0-OpenSSH_9.2p1 Debian-2',
      '',
      `staging.example.com ${keyType} ${blob}`,
      'staging.example.com ssh-rsa',
      'staging.example.com ssh-rsa not!base64',
      'junk',
      `  staging.example.com   ${keyType}   ${blob}   trailing-comment  `,
      `[h]:2222 ${keyType} ${blob}\r`
    ].join('\n')
    const keys = parseKeyscan(stdout)
    expect(keys.map(key => key.line)).toEqual([
      `staging.example.com ${keyType} ${blob}`,
      `staging.example.com ${keyType} ${blob}`,
      `[h]:2222 ${keyType} ${blob}`
    ])
    expect(new Set(keys.map(key => key.fingerprint)).size).toBe(1)
  })

  test.each([
    ['empty output', ''],
    ['only comments', '# host:22 SSH-2.0-OpenSSH\n'],
    ['only a host', 'staging.example.com\n']
  ])('%s gives no keys', (_name, stdout) => {
    expect(parseKeyscan(stdout)).toEqual([])
  })
})

describe('SshRunner.open checks the private key before connecting', () => {
  /** 127.0.0.1:1 refuses at once, so a key that passes the check ends in a quick refusal. */
  const target = (privateKey: string) =>
    sshTarget({
      host: '127.0.0.1',
      port: 1,
      privateKey,
      knownHosts: '[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey\n'
    })

  async function openIn(
    privateKey: string
  ): Promise<{ error: unknown; remembered: SshResources[]; tempRoot: string }> {
    const tempRoot = fs.mkdtempSync(path.join(root, 'temp-'))
    const remembered: SshResources[] = []
    try {
      const runner = await SshRunner.open(target(privateKey), tempRoot, resources => {
        remembered.push({ ...resources, dirs: [...resources.dirs] })
      })
      await runner.close()
    } catch (error) {
      return { error, remembered, tempRoot }
    }
    throw new Error('expected SshRunner.open to reject')
  }

  test('a key with a passphrase is bad input, and nothing is left behind', async () => {
    const file = generateKey('with-passphrase', 'ed25519', 'hunter2')
    const { error, remembered, tempRoot } = await openIn(fs.readFileSync(file, 'utf8'))
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).failure).toBe('invalid-input')
    expect((error as InputError).message).toBe(
      'input private-key is protected by a passphrase: the gate runs ssh in batch mode and cannot type it. Use a deploy key without a passphrase, kept in a secret'
    )
    expect(remembered[0]?.dirs.length).toBeGreaterThan(0)
    for (const dir of remembered[0]?.dirs ?? []) expect(fs.existsSync(dir)).toBe(false)
    expect(fs.readdirSync(tempRoot)).toEqual([])
  })

  test('a key ssh-keygen cannot read is bad input naming the cause, not the temp path', async () => {
    const broken =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAnotakeySECRETSECRET\n-----END OPENSSH PRIVATE KEY-----\n'
    const { error, tempRoot } = await openIn(broken)
    expect(error).toBeInstanceOf(InputError)
    const message = (error as InputError).message
    expect(message).toMatch(/^input private-key is not a usable private key \(ssh-keygen: .+\)$/)
    expect(message).toContain('<key>')
    expect(message).not.toContain(tempRoot)
    expect(message).not.toContain('SECRET')
    expect(fs.readdirSync(tempRoot)).toEqual([])
  })

  test('a usable key passes the check; a refused connection is a retryable transport error', async () => {
    const file = generateKey('usable', 'ed25519')
    const { error, tempRoot } = await openIn(fs.readFileSync(file, 'utf8'))
    expect(error).toBeInstanceOf(GateError)
    expect(error).not.toBeInstanceOf(InputError)
    expect((error as GateError).failure).toBe('transport')
    expect((error as GateError).retryable).toBe(true)
    expect((error as GateError).message).toContain('ssh connection to deploy@127.0.0.1:1 failed')
    expect((error as GateError).message).toContain('Connection refused')
    expect(fs.readdirSync(tempRoot)).toEqual([])
  })
})

describe('SshRunner sessions: the argv ssh gets, and the script on stdin', () => {
  /**
   * A stand-in `ssh` first on PATH: it records its argv (NUL-separated, one file per call), opens
   * no master (`-N` and `-O` just succeed), and runs the remote command words after the
   * destination with the local /bin/sh, as sshd hands them to the login shell.
   */
  let bin: string
  let calls: string
  const savedPath = process.env.PATH

  beforeAll(() => {
    bin = fs.mkdtempSync(path.join(root, 'bin-'))
    calls = fs.mkdtempSync(path.join(root, 'calls-'))
    fs.writeFileSync(
      path.join(bin, 'ssh'),
      [
        '#!/bin/sh',
        `n=$(ls '${calls}' | wc -l)`,
        `printf '%s\\0' "$@" > '${calls}/'$(printf '%03d' "$n")`,
        'for a in "$@"; do case "$a" in -N|-O) exit 0;; esac; done',
        'while [ "$#" -gt 0 ] && [ "$1" != -- ]; do shift; done',
        'shift 2',
        'exec /bin/sh -c "$*"',
        ''
      ].join('\n'),
      { mode: 0o755 }
    )
    process.env.PATH = `${bin}:${savedPath ?? ''}`
  })

  afterAll(() => {
    process.env.PATH = savedPath
  })

  /** Every ssh call so far, as argv lists. */
  function sshCalls(): string[][] {
    return fs
      .readdirSync(calls)
      .sort()
      .map(file => fs.readFileSync(path.join(calls, file), 'utf8').split('\0').slice(0, -1))
  }

  beforeEach(() => {
    for (const file of fs.readdirSync(calls)) fs.rmSync(path.join(calls, file))
  })

  test.each<[string, string, string]>([
    ['with a user', 'deploy', 'deploy@127.0.0.1'],
    ['without a user', '', '127.0.0.1']
  ])(
    '%s: the session argv ends with --, the destination and sh -s; the script only on stdin',
    async (_name, user, destination) => {
      const tempRoot = fs.mkdtempSync(path.join(root, 'temp-'))
      const target = sshTarget({ host: '127.0.0.1', user, port: 2222 })
      const runner = await SshRunner.open(target, tempRoot)
      const secret = 'provenance-gate-feedc0de12345678'
      const result = await runner.session(`echo "${secret} from $0"\necho err >&2\n`, {
        timeoutMs: 5000
      })
      await runner.close()
      await runner.close()

      expect(result).toMatchObject({ exitCode: 0, timedOut: false })
      expect(result.stdout).toBe(`${secret} from sh\n`)
      const [open, session, exit, ...more] = sshCalls()
      expect(more).toEqual([])
      expect(open?.slice(-8)).toEqual([
        '-o', 'ControlMaster=yes', '-o', 'ControlPersist=600', '-f', '-N', '--', destination
      ]) // prettier-ignore
      // The connection options are the master's, then the session's own.
      expect(session?.slice(0, open!.length - 8)).toEqual(open?.slice(0, -8))
      expect(session?.slice(-5)).toEqual(['-o', 'ControlMaster=no', '--', destination, 'sh -s'])
      expect(session).toContain('-p')
      expect(session?.[session.indexOf('-p') + 1]).toBe('2222')
      // The nonce travels on stdin, never in an argv.
      expect(sshCalls().flat().join(' ')).not.toContain(secret)
      // close() asks the master to exit once, then removes the private files.
      expect(exit?.slice(-4)).toEqual(['-O', 'exit', '--', destination])
      expect(fs.readdirSync(tempRoot)).toEqual([])
    }
  )

  test('a session streams its input, takes its bound, and stops at the end line', async () => {
    const tempRoot = fs.mkdtempSync(path.join(root, 'temp-'))
    const runner = await SshRunner.open(sshTarget({ host: '127.0.0.1' }), tempRoot)
    const seen: string[] = []
    const started = Date.now()
    const result = await runner.session(
      Readable.from([
        'echo one\n',
        "printf '\\nprovenance-gate-0123456789abcdef end\\n'\n",
        'sleep 30\n'
      ]),
      {
        timeoutMs: 20_000,
        endsWith: '\nprovenance-gate-0123456789abcdef end\n',
        onOutput: chunk => seen.push(chunk.toString('utf8'))
      }
    )
    await runner.close()
    expect(Date.now() - started).toBeLessThan(5000)
    expect(result.ended).toBe(true)
    expect(result.stdout).toBe('one\n\nprovenance-gate-0123456789abcdef end\n')
    expect(seen.join('')).toBe(result.stdout)
  })
})
