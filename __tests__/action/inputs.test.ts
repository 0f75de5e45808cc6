import { describe, expect, test } from '@jest/globals'
import { InputError } from '../../src/errors.js'
import {
  deriveBuildContext,
  INPUT_DEFAULTS,
  isImageReference,
  parseSettings,
  parseSwitch,
  readRunContext,
  type InputName,
  type ReadInput
} from '../../src/inputs.js'
import type { PromoteSettings, RunContext, Settings } from '../../src/settings.js'
import { IMAGE_HEX, SHA_A } from '../support/fixtures.js'

/** The promotion target, which only promote mode has. */
function promoteOf(settings: Settings): PromoteSettings | undefined {
  return settings.mode === 'promote' ? settings.promote : undefined
}

/** skip-if-fresh, which only rebuild mode has (false for the others). */
function skipIfFreshOf(settings: Settings): boolean {
  return settings.mode === 'rebuild' && settings.skipIfFresh
}

type Inputs = Partial<Record<InputName, string>>

/** A fake `read`: the value from the table, '' for anything the table does not name. */
function reader(inputs: Inputs): ReadInput {
  return name => inputs[name] ?? ''
}

const context: RunContext = {
  repository: 'acme/shop',
  workspace: '/home/runner/work/shop/shop',
  runnerTemp: '/home/runner/_temp',
  serverUrl: 'https://github.com'
}

const KNOWN_HOST_LINE =
  'staging.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'

const KEY_BODY = [
  'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
  'QyNTUxOQAAACDjKqp5Fc65tEnRulDqKCy7GoB+QvaJFotHYdpfRiiZZQAAAJhVtj4gVbY+'
]
const PRIVATE_KEY_LF = [
  '-----BEGIN OPENSSH PRIVATE KEY-----',
  ...KEY_BODY,
  '-----END OPENSSH PRIVATE KEY-----',
  ''
].join('\n')

/** The least a rebuild on this runner needs. */
const base: Inputs = { image: 'registry.example.com/shop:staging', hook: '/srv/shop/hook.sh' }
/** The least a rebuild over ssh needs. */
const sshBase: Inputs = { ...base, host: 'staging.example.com', 'known-hosts': KNOWN_HOST_LINE }

/** The build-context settings when none of its inputs is set. */
const DEFAULT_CONTEXT: Settings['context'] = {
  check: 'auto',
  upload: false,
  uploadDir: '',
  uploadMaxBytes: 512 * 1024 * 1024,
  sync: false
}

function parse(inputs: Inputs, ctx: RunContext = context): ReturnType<typeof parseSettings> {
  return parseSettings(reader(inputs), ctx)
}

/** The error a call throws; fails the test when it does not throw. */
function thrown(fn: () => unknown): Error {
  try {
    fn()
  } catch (error) {
    if (error instanceof Error) return error
    throw new Error(`threw a non-Error: ${String(error)}`, { cause: error })
  }
  throw new Error('expected a throw, but the call returned')
}

function inputError(inputs: Inputs): InputError {
  const error = thrown(() => parse(inputs))
  expect(error).toBeInstanceOf(InputError)
  return error as InputError
}

describe('parseSettings defaults', () => {
  test('empty optional inputs take the documented defaults', () => {
    expect(parse(base)).toEqual({
      mode: 'rebuild',
      checkoutPath: '/home/runner/work/shop/shop',
      image: 'registry.example.com/shop:staging',
      ssh: undefined,
      hook: '/srv/shop/hook.sh',
      hookDir: '',
      buildContext: '',
      context: DEFAULT_CONTEXT,
      staging: {
        service: 'staging',
        port: '',
        composeProfile: 'staging',
        container: 'staging',
        containerNamed: false
      },
      revisionLabel: 'org.opencontainers.image.revision',
      docker: 'docker',
      timeouts: { gitMs: 30_000, inspectMs: 30_000, rebuildMs: 1_200_000 },
      labelSource: 'host',
      registry: { username: '', password: '', platform: 'linux/amd64' },
      containerCheck: 'auto',
      requireSource: false,
      skipIfFresh: false,
      repositoryUrl: 'https://github.com/acme/shop',
      promote: undefined
    })
  })

  test.each<[InputName, string]>([
    ['mode', '   '],
    ['port', ' \n '],
    ['docker', '\t'],
    ['revision-label', '  '],
    ['rebuild-timeout', ' ']
  ])('whitespace-only %s counts as empty and takes the default', (name, blank) => {
    const settings = parse({ ...sshBase, [name]: blank })
    expect(settings.mode).toBe('rebuild')
    expect(settings.ssh?.port).toBe(22)
    expect(settings.docker).toBe('docker')
    expect(settings.revisionLabel).toBe('org.opencontainers.image.revision')
    expect(settings.timeouts.rebuildMs).toBe(1_200_000)
  })

  test('values are trimmed', () => {
    const settings = parse({
      ...base,
      mode: '  verify\n',
      image: ' ghcr.io/acme/shop:v1.2 ',
      service: ' web ',
      docker: ' podman '
    })
    expect(settings.mode).toBe('verify')
    expect(settings.image).toBe('ghcr.io/acme/shop:v1.2')
    expect(settings.staging.service).toBe('web')
    expect(settings.staging.container).toBe('web')
    expect(settings.docker).toBe('podman')
  })

  test('every input is set explicitly', () => {
    const settings = parse(
      {
        mode: 'verify',
        path: 'checkouts/shop',
        image: 'localhost:5000/shop:staging',
        host: '10.0.0.5',
        user: 'deploy',
        port: '2222',
        'private-key': PRIVATE_KEY_LF,
        'known-hosts': '[10.0.0.5]:2222 ssh-ed25519 AAAAkey',
        'strict-host-key-checking': 'true',
        'ssh-retries': '5',
        hook: 'hooks/deploy.sh',
        'hook-dir': '/srv/shop',
        'build-context': '/srv/shop/src',
        service: 'shop-staging',
        'staging-port': '8081',
        'compose-profile': 'stage',
        'staging-container': 'shop-staging-1',
        'prod-service': 'shop',
        'prod-port': '8080',
        'revision-label': 'vcs-ref',
        docker: '/usr/local/bin/docker',
        'label-source': 'host',
        'registry-username': 'bot',
        'registry-password': 'pull-token',
        platform: 'linux/arm64/v8',
        'check-container': 'true',
        'require-source': 'true',
        // Explicitly off: verify mode refuses it on (see parseSettings skip-if-fresh).
        'skip-if-fresh': 'false',
        'git-timeout': '5',
        'inspect-timeout': '7',
        'rebuild-timeout': '86400'
      },
      { ...context, workspace: '/w', serverUrl: 'https://ghe.example.com/' }
    )
    expect(settings).toEqual({
      mode: 'verify',
      checkoutPath: '/w/checkouts/shop',
      image: 'localhost:5000/shop:staging',
      ssh: {
        host: '10.0.0.5',
        user: 'deploy',
        port: 2222,
        privateKey: PRIVATE_KEY_LF,
        knownHosts: '[10.0.0.5]:2222 ssh-ed25519 AAAAkey\n',
        strictHostKeyChecking: true,
        retries: 5
      },
      // The hook only runs in rebuild mode, so it is not kept in verify mode.
      hookDir: '/srv/shop',
      buildContext: '/srv/shop/src',
      context: DEFAULT_CONTEXT,
      staging: {
        service: 'shop-staging',
        port: '8081',
        composeProfile: 'stage',
        container: 'shop-staging-1',
        containerNamed: true
      },
      revisionLabel: 'vcs-ref',
      docker: '/usr/local/bin/docker',
      timeouts: { gitMs: 5_000, inspectMs: 7_000, rebuildMs: 86_400_000 },
      labelSource: 'host',
      registry: { username: 'bot', password: 'pull-token', platform: 'linux/arm64/v8' },
      containerCheck: 'require',
      requireSource: true,
      repositoryUrl: 'https://ghe.example.com/acme/shop'
    })
  })

  test('every promote input is set explicitly', () => {
    const settings = parse({
      mode: 'promote',
      image: 'localhost:5000/shop:staging',
      hook: '/srv/shop/hook.sh',
      'prod-image': 'localhost:5000/shop:prod',
      'expected-revision': SHA_A,
      'image-id': `sha256:${IMAGE_HEX}`,
      'check-container': 'false',
      'require-source': 'TRUE'
    })
    expect(settings).toEqual({
      mode: 'promote',
      checkoutPath: '/home/runner/work/shop/shop',
      image: 'localhost:5000/shop:staging',
      ssh: undefined,
      hookDir: '',
      buildContext: '',
      context: DEFAULT_CONTEXT,
      staging: {
        service: 'staging',
        port: '',
        composeProfile: 'staging',
        container: 'staging',
        containerNamed: false
      },
      revisionLabel: 'org.opencontainers.image.revision',
      docker: 'docker',
      timeouts: { gitMs: 30_000, inspectMs: 30_000, rebuildMs: 1_200_000 },
      labelSource: 'host',
      registry: { username: '', password: '', platform: 'linux/amd64' },
      containerCheck: 'skip',
      requireSource: true,
      repositoryUrl: 'https://github.com/acme/shop',
      promote: {
        prodImage: 'localhost:5000/shop:prod',
        expectedRevision: SHA_A,
        imageId: `sha256:${IMAGE_HEX}`
      }
    })
  })

  test.each([
    ['.', '/home/runner/work/shop/shop'],
    ['sub/dir', '/home/runner/work/shop/shop/sub/dir'],
    ['../other', '/home/runner/work/shop/other'],
    ['/abs/checkout', '/abs/checkout']
  ])('path %j resolves against the workspace to %s', (input, expected) => {
    expect(parse({ ...base, path: input }).checkoutPath).toBe(expected)
  })

  test.each<[string, string, string, boolean]>([
    ['', 'shop-staging', 'shop-staging', false],
    ['', '', 'staging', false],
    ['  ', 'web', 'web', false],
    ['shop-blue', 'shop-staging', 'shop-blue', true],
    // Named even when it equals the service: then it is inspected by that name, not by label.
    ['staging', '', 'staging', true],
    [' web ', 'web', 'web', true]
  ])(
    'staging-container %j with service %j gives container %j, named %s',
    (container, service, expected, named) => {
      const settings = parse({ ...base, 'staging-container': container, service })
      expect(settings.staging.container).toBe(expected)
      expect(settings.staging.containerNamed).toBe(named)
    }
  )

  test.each([
    ['1', 1_000],
    ['30', 30_000],
    ['86400', 86_400_000],
    ['0600', 600_000]
  ])('timeout %j is %d ms', (raw, ms) => {
    const settings = parse({
      ...base,
      'git-timeout': raw,
      'inspect-timeout': raw,
      'rebuild-timeout': raw
    })
    expect(settings.timeouts).toEqual({ gitMs: ms, inspectMs: ms, rebuildMs: ms })
  })

  test.each([
    ['1', 1],
    ['22', 22],
    ['65535', 65535],
    ['02222', 2222]
  ])('ssh port %j is %d', (raw, port) => {
    expect(parse({ ...sshBase, port: raw }).ssh?.port).toBe(port)
  })

  test('staging-port is normalised to its number', () => {
    expect(parse({ ...base, 'staging-port': '08081' }).staging.port).toBe('8081')
  })
})

describe('parseSettings rejects bad inputs with an InputError naming the input', () => {
  test.each<[string, Inputs, string]>([
    ['unknown mode', { ...base, mode: 'deploy' }, 'input mode'],
    ['mode in capitals', { ...base, mode: 'REBUILD' }, 'input mode'],
    ['missing image', { hook: '/srv/hook.sh' }, 'input image is required'],
    ['image in upper case', { ...base, image: 'Shop:staging' }, 'input image'],
    ['image like an option', { ...base, image: '-x' }, 'input image'],
    ['image with a space', { ...base, image: 'a b' }, 'input image'],
    ['image with a shell substitution', { ...base, image: 'app:$(id)' }, 'input image'],
    ['missing hook in rebuild mode', { image: 'app:staging' }, 'input hook is required'],
    ['ssh port 0', { ...sshBase, port: '0' }, 'input port'],
    ['ssh port 65536', { ...sshBase, port: '65536' }, 'input port'],
    ['ssh port abc', { ...sshBase, port: 'abc' }, 'input port'],
    ['ssh port -1', { ...sshBase, port: '-1' }, 'input port'],
    ['ssh port 22.0', { ...sshBase, port: '22.0' }, 'input port'],
    ['ssh port 1e3', { ...sshBase, port: '1e3' }, 'input port'],
    ['ssh port 123456', { ...sshBase, port: '123456' }, 'input port'],
    ['staging-port 0', { ...base, 'staging-port': '0' }, 'input staging-port'],
    ['staging-port 65536', { ...base, 'staging-port': '65536' }, 'input staging-port'],
    ['staging-port abc', { ...base, 'staging-port': 'abc' }, 'input staging-port'],
    ['prod-port abc', { ...base, 'prod-port': 'abc' }, 'input prod-port'],
    ['prod-port 0', { ...base, 'prod-port': '0' }, 'input prod-port'],
    ['git-timeout 0', { ...base, 'git-timeout': '0' }, 'input git-timeout'],
    ['git-timeout abc', { ...base, 'git-timeout': 'abc' }, 'input git-timeout'],
    ['git-timeout 1.5', { ...base, 'git-timeout': '1.5' }, 'input git-timeout'],
    ['git-timeout 86401', { ...base, 'git-timeout': '86401' }, 'input git-timeout'],
    ['inspect-timeout 0', { ...base, 'inspect-timeout': '0' }, 'input inspect-timeout'],
    ['inspect-timeout abc', { ...base, 'inspect-timeout': 'abc' }, 'input inspect-timeout'],
    ['inspect-timeout 1.5', { ...base, 'inspect-timeout': '1.5' }, 'input inspect-timeout'],
    ['inspect-timeout 86401', { ...base, 'inspect-timeout': '86401' }, 'input inspect-timeout'],
    ['rebuild-timeout 0', { ...base, 'rebuild-timeout': '0' }, 'input rebuild-timeout'],
    ['rebuild-timeout abc', { ...base, 'rebuild-timeout': 'abc' }, 'input rebuild-timeout'],
    ['rebuild-timeout 1.5', { ...base, 'rebuild-timeout': '1.5' }, 'input rebuild-timeout'],
    ['rebuild-timeout 86401', { ...base, 'rebuild-timeout': '86401' }, 'input rebuild-timeout'],
    ['rebuild-timeout -5', { ...base, 'rebuild-timeout': '-5' }, 'input rebuild-timeout'],
    ['revision-label with a quote', { ...base, 'revision-label': 'a"b' }, 'input revision-label'],
    ['revision-label with }}', { ...base, 'revision-label': 'x}}{{.Id' }, 'input revision-label'],
    ['revision-label with a space', { ...base, 'revision-label': 'a b' }, 'input revision-label'],
    [
      'revision-label with a leading dot',
      { ...base, 'revision-label': '.rev' },
      'input revision-label'
    ],
    [
      'revision-label with a trailing dash',
      { ...base, 'revision-label': 'rev-' },
      'input revision-label'
    ],
    ['docker like an option', { ...base, docker: '-H' }, 'input docker'],
    ['docker with a ;', { ...base, docker: 'docker;id' }, 'input docker'],
    ['docker with a space', { ...base, docker: 'sudo docker' }, 'input docker'],
    ['docker with a substitution', { ...base, docker: '$(id)' }, 'input docker'],
    ['host like an option', { ...sshBase, host: '-oProxyCommand=id' }, 'input host'],
    ['host like a bare option', { ...sshBase, host: '-oProxyJump' }, 'input host'],
    ['host like a short option', { ...sshBase, host: '-v' }, 'input host'],
    ['host with a space', { ...sshBase, host: 'staging host' }, 'input host'],
    ['host with a ;', { ...sshBase, host: 'staging;id' }, 'input host'],
    ['user like an option', { ...sshBase, user: '-oProxyCommand=id' }, 'input user'],
    ['user with a space', { ...sshBase, user: 'de ploy' }, 'input user'],
    ['user with an @', { ...sshBase, user: 'deploy@evil' }, 'input user'],
    ['user with a ;', { ...sshBase, user: 'root;id' }, 'input user'],
    [
      'strict-host-key-checking yes',
      { ...sshBase, 'strict-host-key-checking': 'yes' },
      'input strict-host-key-checking'
    ],
    [
      'strict-host-key-checking 0',
      { ...sshBase, 'strict-host-key-checking': '0' },
      'input strict-host-key-checking'
    ],
    [
      'known-hosts missing',
      { ...base, host: 'staging.example.com' },
      'input known-hosts is required'
    ],
    [
      'known-hosts only comments',
      { ...sshBase, 'known-hosts': '# pinned\n\n' },
      'input known-hosts is required'
    ],
    [
      'known-hosts line with 2 fields',
      { ...sshBase, 'known-hosts': 'host ssh-ed25519' },
      'input known-hosts'
    ],
    [
      'known-hosts with one short line among good ones',
      { ...sshBase, 'known-hosts': `${KNOWN_HOST_LINE}\nbroken-line` },
      'input known-hosts'
    ],
    ['path-mapping malformed', { ...base, 'path-mapping': 'abc' }, 'input path-mapping'],
    [
      'path-mapping outside the checkout',
      { ...base, 'path-mapping': '/elsewhere=/srv' },
      'input path-mapping'
    ]
  ])('%s', (_name, inputs, mentions) => {
    const error = inputError(inputs)
    expect(error.failure).toBe('invalid-input')
    expect(error.name).toBe('InputError')
    expect(error.message).toContain(mentions)
  })

  test.each<[string, string]>([
    ['deploy', 'deploy'],
    ['svc$', 'svc$'],
    ['a.b_c-d', 'a.b_c-d'],
    ['', '']
  ])('user %j is accepted', (user, expected) => {
    expect(parse({ ...sshBase, user }).ssh?.user).toBe(expected)
  })

  test.each(['staging.example.com', '10.0.0.5', '[2001:db8::1]', 'fe80::1%eth0', 'stage_1'])(
    'host %j is accepted',
    host => {
      expect(parse({ ...sshBase, host }).ssh?.host).toBe(host)
    }
  )

  test.each(['podman', '/usr/local/bin/docker', 'docker.io', 'nerdctl+x'])(
    'docker %j is accepted',
    docker => {
      expect(parse({ ...base, docker }).docker).toBe(docker)
    }
  )

  test.each(['org.opencontainers.image.revision', 'vcs-ref', 'a', 'com.example/rev_1'])(
    'revision-label %j is accepted',
    label => {
      expect(parse({ ...base, 'revision-label': label }).revisionLabel).toBe(label)
    }
  )

  test('the error message quotes the rejected value', () => {
    expect(inputError({ ...base, mode: 'deploy' }).message).toBe(
      'input mode must be "rebuild", "verify" or "promote", got "deploy"'
    )
  })

  test('the hook may be empty in verify mode', () => {
    const settings = parse({ mode: 'verify', image: 'app:staging' })
    expect(settings.mode).toBe('verify')
    expect(settings).not.toHaveProperty('hook')
  })

  test.each<[InputName, Inputs]>([
    ['image', { ...sshBase, image: 'app:\0staging' }],
    ['hook', { ...sshBase, hook: '/srv/hook.sh\0' }],
    ['hook-dir', { ...sshBase, 'hook-dir': '/srv\0/x' }],
    ['service', { ...sshBase, service: 'staging\0' }],
    ['known-hosts', { ...sshBase, 'known-hosts': `${KNOWN_HOST_LINE}\0` }],
    ['private-key', { ...sshBase, 'private-key': `${PRIVATE_KEY_LF}\0` }],
    ['strict-host-key-checking', { ...sshBase, 'strict-host-key-checking': 'true\0' }],
    ['build-context', { ...sshBase, 'build-context': '/srv/\0' }]
  ])('a NUL byte in %s is rejected', (name, inputs) => {
    const error = inputError(inputs)
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(`input ${name} contains a NUL byte`)
  })
})

describe('parseSettings ssh', () => {
  test('no host means no ssh, and ssh-only inputs are not needed', () => {
    expect(parse({ ...base, 'known-hosts': '', port: '' }).ssh).toBeUndefined()
  })

  test.each([
    ['22', 'ssh-keyscan -p 22 staging.example.com`'],
    ['', 'ssh-keyscan -p 22 staging.example.com`'],
    ['2222', 'ssh-keyscan -p 2222 staging.example.com`']
  ])('missing known-hosts with port %j names the ssh-keyscan command', (port, command) => {
    const error = inputError({ ...base, host: 'staging.example.com', port })
    expect(error.message).toContain(`\`${command}`)
  })

  test.each(['false', 'False', 'FALSE'])(
    'known-hosts may be empty when strict-host-key-checking is %s',
    value => {
      const ssh = parse({
        ...base,
        host: 'staging.example.com',
        'strict-host-key-checking': value
      }).ssh
      expect(ssh?.strictHostKeyChecking).toBe(false)
      expect(ssh?.knownHosts).toBe('')
    }
  )

  test.each(['true', 'True', 'TRUE', ''])('strict-host-key-checking %j is on', value => {
    expect(
      parse({ ...sshBase, 'strict-host-key-checking': value }).ssh?.strictHostKeyChecking
    ).toBe(true)
  })

  test('known-hosts drops comments and blank lines, trims, and ends with one newline', () => {
    const raw = `# staging\r\n\r\n  ${KNOWN_HOST_LINE}  \r\n# second key\n[h]:2222 ssh-rsa AAAAB3\n\n`
    expect(parse({ ...sshBase, 'known-hosts': raw }).ssh?.knownHosts).toBe(
      `${KNOWN_HOST_LINE}\n[h]:2222 ssh-rsa AAAAB3\n`
    )
  })

  test('a private key with CRLF line ends is normalised to LF with a final newline', () => {
    const crlf = [
      '-----BEGIN OPENSSH PRIVATE KEY-----',
      ...KEY_BODY,
      '-----END OPENSSH PRIVATE KEY-----'
    ].join('\r\n')
    const key = parse({ ...sshBase, 'private-key': crlf }).ssh?.privateKey
    expect(key).toBe(PRIVATE_KEY_LF)
    expect(key).not.toContain('\r')
  })

  test.each([
    ['without its final newline', PRIVATE_KEY_LF.trimEnd()],
    ['with extra blank lines around it', `\n\n${PRIVATE_KEY_LF}\n\n`],
    ['with old-style CR line ends', PRIVATE_KEY_LF.replace(/\n/g, '\r')]
  ])('a private key %s is normalised', (_name, raw) => {
    expect(parse({ ...sshBase, 'private-key': raw }).ssh?.privateKey).toBe(PRIVATE_KEY_LF)
  })

  test('an RSA key in PEM form is accepted', () => {
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n'
    expect(parse({ ...sshBase, 'private-key': pem }).ssh?.privateKey).toBe(pem)
  })

  test('an empty private key leaves ssh to its agent', () => {
    expect(parse(sshBase).ssh?.privateKey).toBe('')
  })

  test.each([
    ['garbage', 'hunter2-SECRET-passphrase-material'],
    ['a public key', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5SECRETSECRET user@host'],
    ['a key without its END line', `-----BEGIN OPENSSH PRIVATE KEY-----\n${KEY_BODY[0]}`],
    [
      'a key without a body',
      '-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----'
    ],
    ['a key with text after its END line', `${PRIVATE_KEY_LF}trailing-SECRET`]
  ])('%s as private key is rejected without echoing it', (_name, raw) => {
    const error = inputError({ ...sshBase, 'private-key': raw })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toContain('input private-key')
    expect(error.message).not.toContain('SECRET')
    expect(error.message).not.toContain(KEY_BODY[0])
    for (const line of raw.split('\n').filter(l => l.length > 8 && !l.startsWith('-----'))) {
      expect(error.message).not.toContain(line)
    }
  })
})

describe('parseSettings ssh-retries', () => {
  test.each<[string, number]>([
    ['', 2],
    ['  ', 2],
    ['0', 0],
    ['1', 1],
    ['2', 2],
    [' 3 ', 3],
    ['07', 7],
    ['10', 10],
    ['000000010', 10]
  ])('ssh-retries %j is %d extra attempts', (raw, retries) => {
    expect(parse({ ...sshBase, 'ssh-retries': raw }).ssh?.retries).toBe(retries)
  })

  test.each([
    '11',
    '100',
    '-1',
    '1.5',
    '2.0',
    '1e1',
    '0x2',
    'abc',
    'two',
    '+2',
    '1 2',
    '0000000001'
  ])('ssh-retries %j is an InputError naming the range', raw => {
    const error = inputError({ ...sshBase, 'ssh-retries': raw })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(
      `input ssh-retries must be a whole number from 0 to 10, got ${JSON.stringify(raw)}`
    )
  })

  test('without a host ssh-retries is not read, so a bad value cannot fail a local run', () => {
    expect(parse({ ...base, 'ssh-retries': 'abc' }).ssh).toBeUndefined()
  })

  test('a NUL byte in ssh-retries is rejected', () => {
    expect(inputError({ ...sshBase, 'ssh-retries': '2\0' }).message).toBe(
      'input ssh-retries contains a NUL byte'
    )
  })

  test.each<[string, string]>([
    ['git-timeout', '1000000000'],
    ['inspect-timeout', '99999999999'],
    ['rebuild-timeout', '+5']
  ])('%s %j still names the seconds and the range', (name, raw) => {
    expect(inputError({ ...base, [name]: raw }).message).toBe(
      `input ${name} must be a whole number of seconds from 1 to 86400, got ${JSON.stringify(raw)}`
    )
  })
})

describe('parseSettings refuses a staging target equal to prod', () => {
  test.each<[string, Inputs, string]>([
    ['service is prod-service', { service: 'shop', 'prod-service': 'shop' }, '"shop"'],
    ['default service is prod-service', { 'prod-service': 'staging' }, '"staging"'],
    [
      'staging-container is prod-service',
      { service: 'shop-staging', 'staging-container': 'shop', 'prod-service': 'shop' },
      '"shop"'
    ],
    [
      'defaulted staging-container (= service) is prod-service',
      { service: 'web', 'prod-service': 'web' },
      '"web"'
    ],
    ['staging-port is prod-port', { 'staging-port': '8080', 'prod-port': '8080' }, '8080'],
    [
      'staging-port equals prod-port after normalising',
      { 'staging-port': '08080', 'prod-port': '8080' },
      '8080'
    ]
  ])('%s', (_name, extra, mentions) => {
    const error = inputError({ ...base, ...extra })
    expect(error.failure).toBe('prod-target')
    expect(error.message).toContain('the staging target equals the prod target')
    expect(error.message).toContain(mentions)
  })

  test.each<[string, Inputs]>([
    [
      'different service and port',
      { 'prod-service': 'shop', 'prod-port': '8080', 'staging-port': '8081' }
    ],
    ['prod-port set, staging-port empty', { 'prod-port': '8080' }],
    ['prod-service differs only by case', { service: 'Shop', 'prod-service': 'shop' }],
    ['no prod target at all', {}]
  ])('%s is allowed', (_name, extra) => {
    const settings = parse({ ...base, ...extra })
    expect(settings.staging.service).toBe(extra.service ?? 'staging')
  })
})

describe('parseSettings label-source and registry inputs', () => {
  test.each<[string, Settings['labelSource']]>([
    ['', 'host'],
    ['host', 'host'],
    ['registry', 'registry'],
    [' registry\n', 'registry']
  ])('label-source %j is %s', (raw, labelSource) => {
    expect(parse({ ...base, 'label-source': raw }).labelSource).toBe(labelSource)
  })

  test.each(['daemon', 'Registry', 'HOST', 'registry,host'])(
    'label-source %j is an InputError quoting it',
    raw => {
      const error = inputError({ ...base, 'label-source': raw })
      expect(error.failure).toBe('invalid-input')
      expect(error.message).toBe(
        `input label-source must be "host" or "registry", got ${JSON.stringify(raw)}`
      )
    }
  )

  describe('with label-source registry, the image is read as the registry will read it', () => {
    const UPPER_DIGEST = `sha256:${IMAGE_HEX.toUpperCase()}`
    test.each<[string, string, string]>([
      [
        'a digest in upper case',
        `reg.example.com/app@${UPPER_DIGEST}`,
        'has a malformed digest (expected sha256:<64 hex>)'
      ],
      ['a port out of range', 'reg.example.com:99999/app:staging', 'has a malformed registry host'],
      [
        'a digest of another algorithm',
        `reg.example.com/app@sha512:${IMAGE_HEX}${IMAGE_HEX}`,
        'has a malformed digest (expected sha256:<64 hex>)'
      ]
    ])('%s: an InputError, before anything runs', (_name, image, why) => {
      // isImageReference accepts it: the gate itself would inspect it on the host as given.
      expect(isImageReference(image)).toBe(true)
      expect(parse({ ...base, image }).image).toBe(image)
      for (const mode of ['rebuild', 'verify'] as const) {
        const error = inputError({ ...base, mode, image, 'label-source': 'registry' })
        expect(error.failure).toBe('invalid-input')
        expect(error.message).toBe(
          `input image cannot be read from a registry: image reference ${JSON.stringify(image)} ${why}`
        )
      }
    })

    test.each([
      `reg.example.com/app@sha256:${IMAGE_HEX}`,
      'reg.example.com:65535/app:staging',
      'localhost:5000/team/app:1.0',
      'app'
    ])('%j is accepted', image => {
      const settings = parse({ ...base, image, 'label-source': 'registry' })
      expect(settings.image).toBe(image)
      expect(settings.labelSource).toBe('registry')
    })
  })

  test.each<[string, string]>([
    ['', 'linux/amd64'],
    ['linux/amd64', 'linux/amd64'],
    ['linux/arm64/v8', 'linux/arm64/v8'],
    ['linux/arm/v7', 'linux/arm/v7'],
    ['linux/386', 'linux/386'],
    ['windows/amd64', 'windows/amd64'],
    ['linux/ppc64le', 'linux/ppc64le'],
    [' linux/s390x ', 'linux/s390x'],
    // A comma list is accepted as written: the registry reader parses it again.
    ['linux/amd64,linux/arm64/v8', 'linux/amd64,linux/arm64/v8']
  ])('platform %j is %s', (raw, platform) => {
    expect(parse({ ...base, platform: raw }).registry.platform).toBe(platform)
  })

  test.each([
    'linux',
    'amd64',
    'Linux/amd64',
    'linux/AMD64',
    'linux//amd64',
    '/amd64',
    'linux/',
    'linux/amd64/',
    'linux/arm64/v8/extra',
    'linux/amd64 linux/arm64',
    'linux/$(id)',
    'linux/amd64;id'
  ])('platform %j is an InputError quoting it', raw => {
    const error = inputError({ ...base, platform: raw })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(
      `input platform ${JSON.stringify(raw)} is not os/arch or os/arch/variant (e.g. linux/amd64)`
    )
  })

  // A comma list, checked entry by entry: the message quotes the one entry that is wrong.
  test.each<[string, string]>([
    ['linux/amd64,linux/AMD64', 'linux/AMD64'],
    ['linux/amd64, linux', 'linux'],
    ['linux/$(id),linux/amd64', 'linux/$(id)']
  ])('platform list %j is an InputError quoting the entry %j', (raw, entry) => {
    const error = inputError({ ...base, platform: raw })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(
      `input platform ${JSON.stringify(entry)} is not os/arch or os/arch/variant (e.g. linux/amd64)`
    )
  })

  test.each([',', ' , ,'])('platform %j names no platform: an InputError', raw => {
    const error = inputError({ ...base, platform: raw })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(
      `input platform ${JSON.stringify(raw.trim())} names no platform (expected e.g. linux/amd64 or linux/amd64,linux/arm64)`
    )
  })

  test.each<[string, string, string]>([
    ['anonymous', '', ''],
    ['user and token', 'bot', 'ghp_pullTOKEN'],
    ['a token with spaces around', ' bot ', ' ghp_pullTOKEN ']
  ])('registry credentials: %s', (_name, username, password) => {
    const settings = parse({
      ...base,
      'label-source': 'registry',
      'registry-username': username,
      'registry-password': password
    })
    expect(settings.registry).toEqual({
      username: username.trim(),
      password: password.trim(),
      platform: 'linux/amd64'
    })
  })

  test.each<[string, Inputs]>([
    ['a username without a password', { 'registry-username': 'bot' }],
    ['a password without a username', { 'registry-password': 'SECRET-token' }],
    ['a username with a blank password', { 'registry-username': 'bot', 'registry-password': ' ' }]
  ])('%s is an InputError that never echoes the password', (_name, extra) => {
    const error = inputError({ ...base, 'label-source': 'registry', ...extra })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(
      'inputs registry-username and registry-password go together: set both or neither'
    )
    expect(error.message).not.toContain('SECRET')
  })

  test('a NUL byte in registry-password is rejected by name, not by value', () => {
    const error = inputError({
      ...base,
      'registry-username': 'bot',
      'registry-password': 'SECRET\0x'
    })
    expect(error.message).toBe('input registry-password contains a NUL byte')
  })

  test.each<[string, string, string]>([
    ['github.com', 'https://github.com', 'https://github.com/acme/shop'],
    ['a GHES server', 'https://ghe.example.com', 'https://ghe.example.com/acme/shop'],
    [
      'a server URL with trailing slashes',
      'https://ghe.example.com//',
      'https://ghe.example.com/acme/shop'
    ]
  ])('repositoryUrl on %s', (_name, serverUrl, repositoryUrl) => {
    expect(parse(base, { ...context, serverUrl }).repositoryUrl).toBe(repositoryUrl)
  })

  test('repositoryUrl is empty when GITHUB_REPOSITORY is unknown', () => {
    expect(parse(base, { ...context, repository: '' }).repositoryUrl).toBe('')
  })
})

describe('parseSettings check-container and require-source', () => {
  test.each<[string, Inputs, Settings['containerCheck']]>([
    ['default', {}, 'auto'],
    ['auto', { 'check-container': 'auto' }, 'auto'],
    ['true', { 'check-container': 'true' }, 'require'],
    ['false', { 'check-container': 'false' }, 'skip'],
    // The YAML 1.2 core forms, as for every boolean input (`check-container: True` in YAML).
    ['True', { 'check-container': 'True' }, 'require'],
    ['TRUE', { 'check-container': 'TRUE' }, 'require'],
    ['False', { 'check-container': 'False' }, 'skip'],
    ['FALSE', { 'check-container': 'FALSE' }, 'skip'],
    ['Auto', { 'check-container': 'Auto' }, 'auto'],
    ['AUTO', { 'check-container': 'AUTO' }, 'auto'],
    [
      'true with surrounding whitespace (every input is trimmed)',
      { 'check-container': ' true\n' },
      'require'
    ],
    ['true in verify mode', { mode: 'verify', 'check-container': 'true' }, 'require'],
    ['auto with label-source registry is skipped', { 'label-source': 'registry' }, 'skip'],
    [
      'false with label-source registry',
      { 'label-source': 'registry', 'check-container': 'false' },
      'skip'
    ],
    [
      'auto in verify mode with label-source registry is skipped',
      { mode: 'verify', 'label-source': 'registry' },
      'skip'
    ],
    ['auto in promote mode is skipped', { mode: 'promote', 'prod-image': 'shop:prod' }, 'skip']
  ])('check-container %s → %s', (_name, extra, containerCheck) => {
    expect(parse({ ...base, ...extra }).containerCheck).toBe(containerCheck)
  })

  test.each([
    'yes',
    'Yes',
    'require',
    'skip',
    'on',
    '1',
    'always',
    // Case is not folded beyond the YAML forms: lower, Capitalised or UPPER only.
    'aUto',
    'tRuE',
    'fALSE',
    'AUto'
  ])('check-container %j is an InputError', raw => {
    const error = inputError({ ...base, 'check-container': raw })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(
      `input check-container must be "auto" or "true" or "false", got ${JSON.stringify(raw)}`
    )
  })

  test.each<[string, Inputs]>([
    ['with label-source registry', { 'label-source': 'registry' }],
    ['with label-source registry in verify mode', { mode: 'verify', 'label-source': 'registry' }],
    ['in promote mode', { mode: 'promote', 'prod-image': 'shop:prod' }]
  ])('check-container true %s is refused: there is no host inspect', (_name, extra) => {
    const error = inputError({ ...base, ...extra, 'check-container': 'true' })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(
      'input check-container true needs mode rebuild or verify with label-source host: the container is inspected on the host'
    )
  })

  test.each<[string, boolean]>([
    ['', false],
    ['false', false],
    ['False', false],
    ['true', true],
    ['True', true],
    [' TRUE ', true]
  ])('require-source %j is %s', (raw, requireSource) => {
    expect(parse({ ...base, 'require-source': raw }).requireSource).toBe(requireSource)
  })

  test.each(['yes', '1', 'on', 'tRuE'])('require-source %j is an InputError', raw => {
    const error = inputError({ ...base, 'require-source': raw })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(
      `input require-source must be true or false, got ${JSON.stringify(raw)}`
    )
  })
})

describe('parseSettings skip-if-fresh', () => {
  test.each<[string, boolean, Inputs]>([
    ['unset', false, {}],
    ['false', false, { 'skip-if-fresh': 'false' }],
    ['true', true, { 'skip-if-fresh': 'true' }],
    ['TRUE with spaces', true, { 'skip-if-fresh': ' TRUE ' }],
    ['true over ssh', true, { ...sshBase, 'skip-if-fresh': 'true' }],
    [
      'true with check-container false',
      true,
      { 'skip-if-fresh': 'true', 'check-container': 'false' }
    ],
    // Off is always allowed, even where on would be refused.
    ['false in verify mode', false, { mode: 'verify', 'skip-if-fresh': 'false' }],
    [
      'false with label-source registry',
      false,
      { 'label-source': 'registry', 'skip-if-fresh': 'false' }
    ]
  ])('%s → %s', (_name, skipIfFresh, extra) => {
    expect(skipIfFreshOf(parse({ ...base, ...extra }))).toBe(skipIfFresh)
  })

  test.each<[string, Inputs, string]>([
    [
      'verify mode',
      { mode: 'verify' },
      'input skip-if-fresh is only used in rebuild mode: the verify mode runs no hook'
    ],
    [
      'promote mode',
      { mode: 'promote', 'prod-image': 'shop:prod' },
      'input skip-if-fresh is only used in rebuild mode: the promote mode runs no hook'
    ],
    [
      'label-source registry',
      { 'label-source': 'registry' },
      'input skip-if-fresh needs label-source host: freshness includes the running staging containers, read on the host'
    ],
    [
      'verify mode with label-source registry: the mode is named first',
      { mode: 'verify', 'label-source': 'registry' },
      'input skip-if-fresh is only used in rebuild mode: the verify mode runs no hook'
    ]
  ])('true with %s is refused', (_name, extra, message) => {
    const error = inputError({ ...base, ...extra, 'skip-if-fresh': 'true' })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(message)
  })

  test.each(['yes', '1', 'on', 'tRuE'])('%j is an InputError', raw => {
    const error = inputError({ ...base, 'skip-if-fresh': raw })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(
      `input skip-if-fresh must be true or false, got ${JSON.stringify(raw)}`
    )
  })
})

describe('parseSettings promote mode', () => {
  const SHA256 = `${SHA_A}${'0123456789abcdef01234567'}`
  /** The least a promotion needs: no hook. */
  const promote: Inputs = {
    mode: 'promote',
    image: 'registry.example.com/shop:staging',
    'prod-image': 'registry.example.com/shop:prod'
  }

  test('needs no hook and keeps none', () => {
    const settings = parse({ ...promote, hook: '/srv/shop/hook.sh' })
    expect(settings.mode).toBe('promote')
    expect(settings).not.toHaveProperty('hook')
    expect(promoteOf(settings)).toEqual({
      prodImage: 'registry.example.com/shop:prod',
      expectedRevision: '',
      imageId: ''
    })
  })

  test.each<[string, string]>([
    ['', ''],
    [`sha256:${IMAGE_HEX}`, `sha256:${IMAGE_HEX}`],
    [` sha256:${IMAGE_HEX}\n`, `sha256:${IMAGE_HEX}`],
    [`sha256:${'0'.repeat(64)}`, `sha256:${'0'.repeat(64)}`]
  ])('image-id %j is %j', (raw, expected) => {
    expect(promoteOf(parse({ ...promote, 'image-id': raw }))?.imageId).toBe(expected)
  })

  test.each([
    IMAGE_HEX,
    `sha256:${IMAGE_HEX.toUpperCase()}`,
    `SHA256:${IMAGE_HEX}`,
    `sha256:${IMAGE_HEX.slice(1)}`,
    `sha256:${IMAGE_HEX}0`,
    `sha512:${IMAGE_HEX}`,
    `sha256:${IMAGE_HEX.slice(0, 12)}`,
    'sha256:',
    `sha256: ${IMAGE_HEX}`,
    `sha256:${IMAGE_HEX} sha256:${IMAGE_HEX}`,
    `registry.example.com/shop@sha256:${IMAGE_HEX}`,
    'registry.example.com/shop:staging',
    '--force',
    `sha256:${IMAGE_HEX.slice(0, 63)}g`,
    `sha256:${IMAGE_HEX}$(id)`
  ])('image-id %j is an InputError', raw => {
    const error = inputError({ ...promote, 'image-id': raw })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(
      `input image-id must be an image id sha256:<64 hex> (the gate's image_id output), got ${JSON.stringify(raw.trim().slice(0, 80))}`
    )
  })

  test('a long image-id is quoted cut to 80 characters', () => {
    const error = inputError({ ...promote, 'image-id': `sha256:${'f'.repeat(200)}` })
    expect(error.message).toContain(`got "sha256:${'f'.repeat(73)}"`)
    expect(error.message).not.toContain('f'.repeat(74))
  })

  test.each<[string, Inputs, string]>([
    ['no image-digest', {}, ''],
    ['an image-digest', { 'image-digest': `sha256:${IMAGE_HEX}` }, `sha256:${IMAGE_HEX}`],
    ['a padded image-digest', { 'image-digest': ` sha256:${IMAGE_HEX}\n` }, `sha256:${IMAGE_HEX}`],
    [
      'the digest also in image',
      {
        image: `registry.example.com/shop@sha256:${IMAGE_HEX}`,
        'image-digest': `sha256:${IMAGE_HEX}`
      },
      `sha256:${IMAGE_HEX}`
    ],
    [
      'prod in another repository of the registry',
      {
        'prod-image': 'registry.example.com/prod/shop:live',
        'image-digest': `sha256:${IMAGE_HEX}`
      },
      `sha256:${IMAGE_HEX}`
    ]
  ])('label-source registry promotes in the registry: %s', (_name, extra, digest) => {
    const settings = parse({
      ...promote,
      'label-source': 'registry',
      hook: '/srv/hook.sh',
      ...extra
    })
    expect(settings.labelSource).toBe('registry')
    expect(settings.mode).toBe('promote')
    if (settings.mode !== 'promote') return
    expect(settings.promote.imageDigest).toBe(digest)
    expect(settings.promote.imageId).toBe('')
    expect('hook' in settings).toBe(false)
  })

  test.each<[string, Inputs]>([
    ['verify', { mode: 'verify', 'label-source': 'registry' }],
    ['rebuild', { mode: 'rebuild', hook: '/srv/hook.sh' }]
  ])('%s mode refuses image-digest (a forgotten mode: promote)', (_name, extra) => {
    expect(() =>
      parse({ ...promote, 'prod-image': '', ...extra, 'image-digest': `sha256:${IMAGE_HEX}` })
    ).toThrow(
      'input image-digest is only used in promote mode: set mode: promote, or remove image-digest'
    )
  })

  test.each<[string, string]>([
    ['', ''],
    [SHA_A, SHA_A],
    [SHA256, SHA256],
    [` ${SHA_A}\n`, SHA_A]
  ])('expected-revision %j is %j', (raw, expected) => {
    expect(promoteOf(parse({ ...promote, 'expected-revision': raw }))?.expectedRevision).toBe(
      expected
    )
  })

  test.each<[string, Inputs]>([
    ['verify', { mode: 'verify' }],
    ['rebuild', { mode: 'rebuild', hook: '/srv/hook.sh' }]
  ])(
    '%s mode refuses prod-image, expected-revision and image-id (a forgotten mode: promote)',
    (_name, extra) => {
      expect(() => parse({ ...promote, ...extra })).toThrow(
        'input prod-image is only used in promote mode: set mode: promote, or remove prod-image'
      )
      const rest = { ...promote, 'prod-image': '' }
      expect(() => parse({ ...rest, ...extra, 'expected-revision': SHA_A })).toThrow(
        'input expected-revision is only used in promote mode'
      )
      expect(() => parse({ ...rest, ...extra, 'image-id': `sha256:${IMAGE_HEX}` })).toThrow(
        'input image-id is only used in promote mode: set mode: promote, or remove image-id'
      )
      // Refused as stray even when it is not a valid id: the mode is the mistake to name.
      expect(() => parse({ ...rest, ...extra, 'image-id': 'nonsense' })).toThrow(
        'input image-id is only used in promote mode'
      )
      expect(promoteOf(parse({ ...rest, ...extra, 'image-id': '  ' }))).toBeUndefined()
      expect(promoteOf(parse({ ...rest, ...extra }))).toBeUndefined()
    }
  )

  test.each<[string, Inputs, string]>([
    [
      'no prod-image',
      { 'prod-image': '' },
      'input prod-image is required in promote mode (the tag to promote to)'
    ],
    [
      'a blank prod-image',
      { 'prod-image': '  ' },
      'input prod-image is required in promote mode (the tag to promote to)'
    ],
    [
      'prod-image in upper case',
      { 'prod-image': 'Shop:prod' },
      'input prod-image is not a valid image reference: "Shop:prod"'
    ],
    [
      'prod-image like an option',
      { 'prod-image': '--force' },
      'input prod-image is not a valid image reference: "--force"'
    ],
    [
      'prod-image with a substitution',
      { 'prod-image': 'shop:$(id)' },
      'input prod-image is not a valid image reference: "shop:$(id)"'
    ],
    [
      'expected-revision abbreviated',
      { 'expected-revision': SHA_A.slice(0, 12) },
      `input expected-revision must be a full 40- or 64-hex lowercase commit id (the gate's expected_revision output), got "${SHA_A.slice(0, 12)}"`
    ],
    [
      'expected-revision in upper case',
      { 'expected-revision': SHA_A.toUpperCase() },
      `input expected-revision must be a full 40- or 64-hex lowercase commit id (the gate's expected_revision output), got "${SHA_A.toUpperCase()}"`
    ],
    [
      'expected-revision of 41 hex digits',
      { 'expected-revision': `${SHA_A}0` },
      `input expected-revision must be a full 40- or 64-hex lowercase commit id (the gate's expected_revision output), got "${SHA_A}0"`
    ],
    [
      'expected-revision HEAD',
      { 'expected-revision': 'HEAD' },
      `input expected-revision must be a full 40- or 64-hex lowercase commit id (the gate's expected_revision output), got "HEAD"`
    ],
    [
      'expected-revision with two revisions',
      { 'expected-revision': `${SHA_A} ${SHA_A}` },
      `input expected-revision must be a full 40- or 64-hex lowercase commit id (the gate's expected_revision output), got "${SHA_A} ${SHA_A.slice(0, 39)}"`
    ],
    [
      'image-digest with label-source host',
      { 'image-digest': `sha256:${IMAGE_HEX}` },
      'input image-digest needs label-source registry (a registry promotion); with label-source host, pin the image with image-id'
    ],
    [
      'image-id with label-source registry',
      { 'label-source': 'registry', 'image-id': `sha256:${IMAGE_HEX}` },
      "input image-id is for label-source host (docker tag on the host); a registry promotion pins the manifest with image-digest (the gate job's image_digest output)"
    ],
    [
      'image-digest abbreviated',
      { 'label-source': 'registry', 'image-digest': `sha256:${IMAGE_HEX.slice(0, 12)}` },
      `input image-digest must be a manifest digest sha256:<64 hex> (the gate's image_digest output), got "sha256:${IMAGE_HEX.slice(0, 12)}"`
    ],
    [
      'image-digest without its algorithm',
      { 'label-source': 'registry', 'image-digest': IMAGE_HEX },
      `input image-digest must be a manifest digest sha256:<64 hex> (the gate's image_digest output), got "${IMAGE_HEX}"`
    ],
    [
      'image-digest in upper case',
      { 'label-source': 'registry', 'image-digest': `sha256:${IMAGE_HEX.toUpperCase()}` },
      `input image-digest must be a manifest digest sha256:<64 hex> (the gate's image_digest output), got "sha256:${IMAGE_HEX.toUpperCase()}"`
    ],
    [
      'a registry promotion to another registry',
      { 'label-source': 'registry', 'prod-image': 'other.example.com/shop:prod' },
      'input prod-image is on other.example.com but image is on registry.example.com: a registry promotion writes within one registry (blob mounts)'
    ],
    [
      'a registry promotion to a digest',
      { 'label-source': 'registry', 'prod-image': `registry.example.com/shop@sha256:${IMAGE_HEX}` },
      `input prod-image must be a tag for a registry promotion (it is written), got the digest reference "registry.example.com/shop@sha256:${IMAGE_HEX}"`
    ],
    [
      'image-digest contradicting the digest in image',
      {
        'label-source': 'registry',
        image: `registry.example.com/shop@sha256:${'0'.repeat(64)}`,
        'image-digest': `sha256:${IMAGE_HEX}`
      },
      `input image-digest sha256:${IMAGE_HEX} contradicts the digest in image "registry.example.com/shop@sha256:${'0'.repeat(64)}"`
    ]
  ])('%s is an InputError', (_name, extra, message) => {
    const error = inputError({ ...promote, ...extra })
    expect(error.failure).toBe('invalid-input')
    expect(error.message).toBe(message)
  })

  // Promoting onto the staging tag itself would "pass" without promoting anything.
  test.each<[string, string, string]>([
    ['the same text', 'registry.example.com/shop:staging', 'registry.example.com/shop:staging'],
    [
      'the same text after trimming',
      'registry.example.com/shop:staging',
      ' registry.example.com/shop:staging\n'
    ],
    ['docker.io written out', 'acme/shop:staging', 'docker.io/acme/shop:staging'],
    ['index.docker.io', 'acme/shop:staging', 'index.docker.io/acme/shop:staging'],
    ['library/ for an official image', 'shop:staging', 'docker.io/library/shop:staging'],
    ['library/ without docker.io', 'shop:staging', 'library/shop:staging'],
    ['the default tag', 'registry.example.com/shop', 'registry.example.com/shop:latest'],
    [
      'a registry host in another case',
      'Registry.Example.com/shop:v1',
      'registry.example.com/shop:v1'
    ],
    ['the same digest', `shop@sha256:${IMAGE_HEX}`, `docker.io/library/shop@sha256:${IMAGE_HEX}`]
  ])('prod-image naming the same image as image (%s) is prod-target', (_name, image, prodImage) => {
    const error = inputError({ ...promote, image, 'prod-image': prodImage })
    expect(error.failure).toBe('prod-target')
    expect(error.message).toBe(
      `the staging target equals the prod target: input prod-image ${JSON.stringify(prodImage.trim())} names the same image as image ${JSON.stringify(image)}; promote retags staging to a different prod tag`
    )
  })

  test.each<[string, string, string]>([
    ['another tag', 'acme/shop:staging', 'acme/shop:prod'],
    ['a tag differing in case', 'acme/shop:staging', 'acme/shop:Staging'],
    ['another repository', 'acme/shop:staging', 'acme/shop-prod:staging'],
    ['another registry', 'acme/shop:staging', 'ghcr.io/acme/shop:staging'],
    [
      'registry-1.docker.io is its own name',
      'acme/shop:staging',
      'registry-1.docker.io/acme/shop:staging'
    ],
    ['a digest against a tag', `shop@sha256:${IMAGE_HEX}`, 'shop:latest']
  ])('prod-image differing from image (%s) is accepted', (_name, image, prodImage) => {
    expect(promoteOf(parse({ ...promote, image, 'prod-image': prodImage }))?.prodImage).toBe(
      prodImage
    )
  })

  test('a long expected-revision is quoted cut to 80 characters', () => {
    const error = inputError({ ...promote, 'expected-revision': 'g'.repeat(200) })
    expect(error.message).toContain(`got "${'g'.repeat(80)}"`)
    expect(error.message).not.toContain('g'.repeat(81))
  })

  test('the staging target is still checked against prod in promote mode', () => {
    const error = inputError({ ...promote, service: 'shop', 'prod-service': 'shop' })
    expect(error.failure).toBe('prod-target')
  })
})

describe('parseSettings build-context inputs', () => {
  const MIB = 1024 * 1024

  test.each<[string, Settings['context']['check']]>([
    ['auto', 'auto'],
    ['Auto', 'auto'],
    ['AUTO', 'auto'],
    ['true', 'require'],
    ['True', 'require'],
    ['TRUE', 'require'],
    ['false', 'skip'],
    ['False', 'skip'],
    ['FALSE', 'skip'],
    ['', 'auto'],
    ['  true  ', 'require']
  ])('check-context %j is %s', (raw, check) => {
    expect(parse({ ...base, 'check-context': raw }).context.check).toBe(check)
  })

  test.each(['yes', 'require', 'skip', 'tRuE', 'aUTO', '1', 'auto,true'])(
    'check-context %j is an InputError naming the input',
    raw => {
      expect(inputError({ ...base, 'check-context': raw }).message).toBe(
        `input check-context must be "auto" or "true" or "false", got ${JSON.stringify(raw)}`
      )
    }
  )

  test.each<[InputName, string, boolean]>([
    ['upload-context', 'true', true],
    ['upload-context', 'True', true],
    ['upload-context', 'FALSE', false],
    ['upload-context', '', false],
    ['sync-context', 'TRUE', true],
    ['sync-context', 'false', false],
    ['sync-context', '', false]
  ])('%s %j is %s', (name, raw, on) => {
    const context = parse({ ...base, [name]: raw }).context
    expect(name === 'upload-context' ? context.upload : context.sync).toBe(on)
  })

  test.each<[InputName, string]>([
    ['upload-context', 'yes'],
    ['upload-context', 'tRUE'],
    ['sync-context', '1'],
    ['sync-context', 'on']
  ])('%s %j is an InputError naming the input', (name, raw) => {
    expect(inputError({ ...base, [name]: raw }).message).toBe(
      `input ${name} must be true or false, got ${JSON.stringify(raw)}`
    )
  })

  test.each<[string, number]>([
    ['1', MIB],
    ['512', 512 * MIB],
    ['0064', 64 * MIB],
    ['65536', 65536 * MIB],
    ['', 512 * MIB]
  ])('upload-max-mib %j is %d bytes', (raw, bytes) => {
    expect(parse({ ...base, 'upload-max-mib': raw }).context.uploadMaxBytes).toBe(bytes)
  })

  test.each(['0', '65537', '-1', '1.5', '512M', 'lots', '1e3'])(
    'upload-max-mib %j is an InputError',
    raw => {
      expect(inputError({ ...base, 'upload-max-mib': raw }).message).toBe(
        `input upload-max-mib must be a whole number from 1 to 65536, got ${JSON.stringify(raw)}`
      )
    }
  )

  test('upload-context with an absolute upload-dir and a bound', () => {
    const settings = parse({
      ...base,
      'upload-context': 'true',
      'upload-dir': ' /var/tmp/gate ',
      'upload-max-mib': '100',
      'check-context': 'true'
    })
    expect(settings.context).toEqual({
      check: 'require',
      upload: true,
      uploadDir: '/var/tmp/gate',
      uploadMaxBytes: 100 * MIB,
      sync: false
    })
  })

  test('sync-context with a build context on the host', () => {
    const settings = parse({ ...base, 'sync-context': 'true', 'build-context': '/srv/shop' })
    expect(settings.context).toEqual({ ...DEFAULT_CONTEXT, sync: true })
    expect(settings.buildContext).toBe('/srv/shop')
  })

  test.each<[string, Inputs, string]>([
    [
      'upload-context in verify mode',
      { ...base, mode: 'verify', 'upload-context': 'true' },
      'input upload-context is only used in rebuild mode: the verify mode builds nothing'
    ],
    [
      'sync-context in verify mode',
      { ...base, mode: 'verify', 'sync-context': 'true' },
      'input sync-context is only used in rebuild mode: the verify mode builds nothing'
    ],
    [
      'upload-context in promote mode',
      {
        ...base,
        mode: 'promote',
        'prod-image': 'registry.example.com/shop:prod',
        'upload-context': 'true'
      },
      'input upload-context is only used in rebuild mode: the promote mode builds nothing'
    ],
    [
      'sync-context in promote mode',
      {
        ...base,
        mode: 'promote',
        'prod-image': 'registry.example.com/shop:prod',
        'sync-context': 'TRUE'
      },
      'input sync-context is only used in rebuild mode: the promote mode builds nothing'
    ],
    [
      'upload-context with build-context',
      { ...base, 'upload-context': 'true', 'build-context': '/srv/shop' },
      'inputs upload-context and build-context contradict each other: with upload-context the hook builds the uploaded archive, so remove build-context'
    ],
    [
      'upload-context with path-mapping',
      { ...base, 'upload-context': 'true', 'path-mapping': '/home/runner/work=/srv' },
      'inputs upload-context and path-mapping contradict each other: with upload-context the hook builds the uploaded archive, so remove path-mapping'
    ],
    [
      'upload-context with sync-context',
      { ...base, 'upload-context': 'true', 'sync-context': 'true' },
      'inputs upload-context and sync-context contradict each other: sync-context moves a clone on the host, upload-context ships the commit instead; choose one'
    ],
    [
      'a relative upload-dir',
      { ...base, 'upload-context': 'true', 'upload-dir': 'tmp/gate' },
      'input upload-dir must be an absolute directory on the host, got "tmp/gate"'
    ],
    [
      'an upload-dir with a line break inside',
      { ...base, 'upload-context': 'true', 'upload-dir': '/tmp/a\nb' },
      'input upload-dir must be an absolute directory on the host, got "/tmp/a\\nb"'
    ],
    [
      'an upload-dir with a carriage return inside',
      { ...base, 'upload-context': 'true', 'upload-dir': '/tmp/a\rb' },
      'input upload-dir must be an absolute directory on the host, got "/tmp/a\\rb"'
    ],
    [
      'upload-dir without upload-context',
      { ...base, 'upload-dir': '/var/tmp/gate' },
      'input upload-dir is only used with upload-context: true'
    ],
    [
      'upload-dir with upload-context false',
      { ...base, 'upload-context': 'false', 'upload-dir': '/var/tmp/gate' },
      'input upload-dir is only used with upload-context: true'
    ],
    [
      'a NUL byte in upload-dir',
      { ...base, 'upload-context': 'true', 'upload-dir': '/tmp/a\0b' },
      'input upload-dir contains a NUL byte'
    ]
  ])('%s is refused', (_name, inputs, message) => {
    expect(inputError(inputs).message).toBe(message)
  })

  test.each<[string, Inputs]>([
    ['check-context false in verify mode', { ...base, mode: 'verify', 'check-context': 'false' }],
    ['upload-context false in verify mode', { ...base, mode: 'verify', 'upload-context': 'false' }],
    [
      'sync-context false in promote mode',
      {
        ...base,
        mode: 'promote',
        'prod-image': 'registry.example.com/shop:prod',
        'sync-context': 'false'
      }
    ]
  ])('%s is accepted (it asks for nothing)', (_name, inputs) => {
    expect(() => parse(inputs)).not.toThrow()
  })
})

describe('deriveBuildContext', () => {
  test.each<[string, string, string, string, string, string]>([
    ['explicit wins', '/ctx', '/runner/work=/srv/repos', '/runner/work/app', '/hook', '/ctx'],
    ['explicit wins over hook-dir', '/ctx', '', '/runner/work/app', '/hook', '/ctx'],
    ['no mapping gives hook-dir', '', '', '/runner/work/app', '/hook', '/hook'],
    ['no mapping and no hook-dir gives empty', '', '', '/runner/work/app', '', ''],
    ['mapping translates', '', '/runner/work=/srv/repos', '/runner/work/app', '', '/srv/repos/app'],
    [
      'mapping with trailing slashes',
      '',
      '/runner/work/=/srv/repos//',
      '/runner/work/app',
      '',
      '/srv/repos/app'
    ],
    [
      'mapping with spaces around',
      '',
      ' /runner/work = /srv/repos ',
      '/runner/work/app/sub',
      '',
      '/srv/repos/app/sub'
    ],
    [
      'checkout equal to the prefix',
      '',
      '/runner/work=/srv/repos',
      '/runner/work',
      '',
      '/srv/repos'
    ],
    ['root runner prefix', '', '/=/srv', '/runner/work/app', '', '/srv/runner/work/app'],
    ['root host prefix', '', '/runner/work=/', '/runner/work/app', '', '/app'],
    ['mapping wins over hook-dir', '', '/runner/work=/srv', '/runner/work/app', '/hook', '/srv/app']
  ])('%s', (_name, explicit, mapping, checkout, hookDir, expected) => {
    expect(deriveBuildContext(explicit, mapping, checkout, hookDir)).toBe(expected)
  })

  test.each<[string, string, string, string]>([
    [
      'checkout outside the prefix',
      '/runner/work=/srv',
      '/home/me/app',
      'is not under the runner prefix /runner/work'
    ],
    [
      'checkout sharing only a name prefix',
      '/runner/work=/srv',
      '/runner/workshop/app',
      'is not under'
    ],
    ['no equals sign', 'abc', '/runner/work/app', 'must be <runner-prefix>=<host-prefix>'],
    ['empty runner prefix', '=/x', '/runner/work/app', 'must be <runner-prefix>=<host-prefix>'],
    ['relative host prefix', '/a=rel', '/a/app', 'must be <runner-prefix>=<host-prefix>'],
    ['relative runner prefix', 'a=/srv', '/a/app', 'must be <runner-prefix>=<host-prefix>'],
    ['empty host prefix', '/a=', '/a/app', 'must be <runner-prefix>=<host-prefix>']
  ])('%s is an InputError', (_name, mapping, checkout, mentions) => {
    const error = thrown(() => deriveBuildContext('', mapping, checkout, '/hook'))
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).failure).toBe('invalid-input')
    expect(error.message).toContain('input path-mapping')
    expect(error.message).toContain(mentions)
  })

  test('parseSettings maps the resolved checkout path', () => {
    const settings = parse(
      { ...base, path: 'shop', 'path-mapping': '/runner/work=/srv/repos', 'hook-dir': '/srv/hook' },
      { ...context, workspace: '/runner/work/acme' }
    )
    expect(settings.checkoutPath).toBe('/runner/work/acme/shop')
    expect(settings.buildContext).toBe('/srv/repos/acme/shop')
    expect(settings.hookDir).toBe('/srv/hook')
  })
})

describe('isImageReference', () => {
  const hex64 = 'b'.repeat(64)
  test.each<[string, boolean]>([
    ['app', true],
    ['app:staging', true],
    ['localhost:5000/app:staging', true],
    [`app@sha256:${hex64}`, true],
    [`ghcr.io/o/n:v1.2@sha256:${hex64}`, true],
    ['ghcr.io/o/n:v1.2', true],
    ['registry.example.com/team/sub/app:1.0.0-rc.1', true],
    ['Registry.Example.com/app:Tag_1', true],
    ['[::1]:5000/app:dev', true],
    // An upper-case first component can only be a registry host, as in distribution/reference's
    // splitDockerDomain, so this names repository "case" on a registry called UPPER.
    ['UPPER/case', true],
    ['UPPER/Case', false],
    ['a__b', true],
    ['a-----b', true],
    ['', false],
    ['App', false],
    ['owner/UPPER', false],
    ['registry.example.com/Team/app', false],
    ['-x', false],
    ['--help', false],
    ['a b', false],
    ['app:tag with space', false],
    ['app:', false],
    ['app:-tag', false],
    ['app:.tag', false],
    ['app@sha256:abc', false],
    [`app@sha256:${'g'.repeat(64)}`, false],
    ['app//x', false],
    ['app/', false],
    ['/app', false],
    ['a___b', false],
    ['a..b', false],
    ['app;id', false],
    ['app$(id)', false],
    ['app:`id`', false],
    ["app'x", false],
    ['app\n', false]
  ])('%j → %s', (ref, valid) => {
    expect(isImageReference(ref)).toBe(valid)
  })

  test('a tag may have 128 characters, not 129', () => {
    expect(isImageReference(`app:${'t'.repeat(128)}`)).toBe(true)
    expect(isImageReference(`app:${'t'.repeat(129)}`)).toBe(false)
  })

  test('the name (registry and repository) may have 255 characters, as in docker', () => {
    const longest = `r.io/${'a'.repeat(250)}`
    expect(longest).toHaveLength(255)
    expect(isImageReference(longest)).toBe(true)
    expect(isImageReference(`${longest}:${'t'.repeat(128)}`)).toBe(true)
    expect(isImageReference(`${longest}b`)).toBe(false)
  })

  test('it is the grammar the registry reader splits by', () => {
    // A first component with a dot is a registry host, whose grammar has no underscore.
    expect(isImageReference('a_b.c/x')).toBe(false)
    expect(isImageReference('a_b/x')).toBe(true)
  })
})

describe('parseSwitch', () => {
  test('off means off: a broken allowlist does not fail a disabled run', () => {
    expect(
      parseSwitch(reader({ enabled: 'false', repositories: 'git@github.com:acme/shop.git' }))
    ).toEqual({ enabled: false, allowlist: [] })
    expect(() =>
      parseSwitch(reader({ enabled: 'true', repositories: 'git@github.com:acme/shop.git' }))
    ).toThrow('input repositories')
  })

  test.each<[string, boolean]>([
    ['true', true],
    ['True', true],
    ['TRUE', true],
    ['', true],
    ['  ', true],
    [' false ', false],
    ['false', false],
    ['False', false],
    ['FALSE', false]
  ])('enabled %j → %s', (raw, enabled) => {
    expect(parseSwitch(reader({ enabled: raw })).enabled).toBe(enabled)
  })

  test.each(['yes', 'no', '1', '0', 'on', 'tRuE'])('enabled %j is an InputError', raw => {
    const error = thrown(() => parseSwitch(reader({ enabled: raw })))
    expect(error).toBeInstanceOf(InputError)
    expect(error.message).toBe(`input enabled must be true or false, got ${JSON.stringify(raw)}`)
  })

  test('the allowlist is read from repositories', () => {
    expect(parseSwitch(reader({ repositories: 'acme/shop, blog\n\nacme/api ,' }))).toEqual({
      enabled: true,
      allowlist: ['acme/shop', 'blog', 'acme/api']
    })
  })

  test.each([
    ['acme/shop', ['acme/shop']],
    ['shop', ['shop']],
    ['a.b-c_d/e', ['a.b-c_d/e']],
    ['Acme/Shop.js, shop_2', ['Acme/Shop.js', 'shop_2']],
    // Normalised: a .git suffix or a server prefix would otherwise never match, and the gate
    // would be `not-applicable` (a pass) on every run of the repository it was meant for.
    ['acme/shop.git', ['acme/shop']],
    ['https://github.com/acme/shop', ['acme/shop']],
    ['https://github.com/acme/shop.git, blog.git', ['acme/shop', 'blog']],
    ['acme/shop, github.com/acme/api', ['acme/shop', 'acme/api']],
    ['https://ghe.example.com/Acme/Shop/', ['Acme/Shop']]
  ])('repositories %j is accepted as %j', (raw, allowlist) => {
    expect(parseSwitch(reader({ repositories: raw })).allowlist).toEqual(allowlist)
  })

  test.each<[string, string]>([
    ['git@github.com:acme/shop.git', 'git@github.com:acme/shop.git'],
    ['https://github.com/acme/shop/tree/main', 'https://github.com/acme/shop/tree/main'],
    ['acme/shop/x', 'acme/shop/x'],
    ['acme shop', 'acme shop'],
    ['acme/shop, host/acme/api', 'host/acme/api'],
    ['.git', '.git'],
    ['/shop', '/shop'],
    ['acme/', 'acme/'],
    ['acme//shop', 'acme//shop'],
    ['acmé/shop', 'acmé/shop'],
    ['acme/shop\tapi', 'acme/shop\tapi'],
    ['shop, acme/*', 'acme/*']
  ])('repositories %j is an InputError naming %j', (raw, bad) => {
    const error = thrown(() => parseSwitch(reader({ repositories: raw })))
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).failure).toBe('invalid-input')
    expect(error.message).toBe(
      `input repositories: ${JSON.stringify(bad)} is not owner/name or a bare repository name`
    )
  })

  test('a long bad repositories entry is quoted by its first 80 characters', () => {
    const bad = `https://example.com/a/b/${'x'.repeat(200)}`
    const error = thrown(() => parseSwitch(reader({ repositories: bad })))
    expect(error.message).toBe(
      `input repositories: ${JSON.stringify(bad.slice(0, 80))} is not owner/name or a bare repository name`
    )
  })

  test('the switch reads nothing but enabled and repositories', () => {
    const asked: InputName[] = []
    parseSwitch(name => {
      asked.push(name)
      return ''
    })
    expect(asked.sort()).toEqual(['enabled', 'repositories'])
  })
})

describe('readRunContext', () => {
  test('reads repository, workspace and runner temp from the environment', () => {
    expect(
      readRunContext({
        GITHUB_REPOSITORY: 'acme/shop',
        GITHUB_WORKSPACE: '/home/runner/work/shop/shop',
        RUNNER_TEMP: '/home/runner/_temp'
      })
    ).toEqual({
      repository: 'acme/shop',
      workspace: '/home/runner/work/shop/shop',
      runnerTemp: '/home/runner/_temp',
      serverUrl: 'https://github.com'
    })
  })

  test('reads the server URL of a GitHub Enterprise Server', () => {
    expect(
      readRunContext({
        GITHUB_REPOSITORY: 'acme/shop',
        GITHUB_SERVER_URL: 'https://ghe.example.com'
      }).serverUrl
    ).toBe('https://ghe.example.com')
  })

  test.each<[string, NodeJS.ProcessEnv]>([
    ['absent', {}],
    [
      'empty',
      { GITHUB_REPOSITORY: '', GITHUB_WORKSPACE: '', RUNNER_TEMP: '', GITHUB_SERVER_URL: '' }
    ]
  ])('falls back when the variables are %s', (_name, env) => {
    expect(readRunContext(env)).toEqual({
      repository: '',
      workspace: process.cwd(),
      runnerTemp: '',
      serverUrl: 'https://github.com'
    })
  })
})

describe('INPUT_DEFAULTS', () => {
  test('every default that parseSettings validates is itself valid', () => {
    const settings = parse({ ...base, ...{ host: 'h', 'known-hosts': KNOWN_HOST_LINE } })
    expect(settings.ssh?.port).toBe(Number(INPUT_DEFAULTS.port))
    expect(settings.revisionLabel).toBe(INPUT_DEFAULTS['revision-label'])
    expect(settings.timeouts.gitMs).toBe(Number(INPUT_DEFAULTS['git-timeout']) * 1000)
    expect(settings.timeouts.inspectMs).toBe(Number(INPUT_DEFAULTS['inspect-timeout']) * 1000)
    expect(settings.timeouts.rebuildMs).toBe(Number(INPUT_DEFAULTS['rebuild-timeout']) * 1000)
    expect(settings.ssh?.retries).toBe(Number(INPUT_DEFAULTS['ssh-retries']))
    expect(settings.labelSource).toBe(INPUT_DEFAULTS['label-source'])
    expect(settings.registry.platform).toBe(INPUT_DEFAULTS.platform)
    expect(settings.containerCheck).toBe(INPUT_DEFAULTS['check-container'])
    expect(String(settings.requireSource)).toBe(INPUT_DEFAULTS['require-source'])
    expect(String(skipIfFreshOf(settings))).toBe(INPUT_DEFAULTS['skip-if-fresh'])
  })
})
