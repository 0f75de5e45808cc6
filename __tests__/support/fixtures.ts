import { failedDecision, type Decision } from '../../src/decide/verdict.js'
import { emptyFacts, type Facts } from '../../src/facts.js'
import type { Report } from '../../src/report.js'
import type {
  PromoteModeSettings,
  RebuildSettings,
  Settings,
  SshTarget
} from '../../src/settings.js'

/** A full 40-hex revision, as `git rev-parse HEAD` prints it. */
export const SHA_A = '0123456789abcdef0123456789abcdef01234567'
/** Another revision that shares no 12-character prefix with SHA_A. */
export const SHA_B = 'fedcba9876543210fedcba9876543210fedcba98'
/** A 64-hex image id body (without the `sha256:` prefix). */
export const IMAGE_HEX = 'a3f1c2d4e5b6978812345678900abcdef0123456789abcdef0123456789abcde'

/** An ssh target as parseSettings would produce it for a pinned host. */
export function sshTarget(overrides: Partial<SshTarget> = {}): SshTarget {
  return {
    host: 'staging.example.com',
    user: 'deploy',
    port: 22,
    privateKey: '',
    knownHosts: 'staging.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey\n',
    strictHostKeyChecking: true,
    retries: 2,
    ...overrides
  }
}

/** Any field of any mode's settings, for `makeSettings`. */
export type SettingsOverrides = Partial<
  Omit<RebuildSettings, 'mode'> & Omit<PromoteModeSettings, 'mode'> & { mode: Settings['mode'] }
>

/**
 * Valid settings for a rebuild on the local runner; override what a test is about. The result is
 * cast: a test may hand a mode a field it does not have, as an input reader never would.
 */
export function makeSettings(overrides: SettingsOverrides = {}): Settings {
  return {
    mode: 'rebuild',
    checkoutPath: '/home/runner/work/shop/shop',
    image: 'registry.example.com/shop:staging',
    ssh: undefined,
    hook: '/srv/shop/hook.sh',
    hookDir: '/srv/shop',
    buildContext: '/srv/shop',
    context: {
      check: 'auto',
      upload: false,
      uploadDir: '',
      uploadMaxBytes: 512 * 1024 * 1024,
      sync: false
    },
    staging: {
      service: 'staging',
      port: '8081',
      composeProfile: 'staging',
      container: 'shop-staging',
      // staging-container was given (it differs from the service): the check inspects it by name.
      containerNamed: true
    },
    revisionLabel: 'org.opencontainers.image.revision',
    docker: 'docker',
    timeouts: { gitMs: 30_000, inspectMs: 45_000, rebuildMs: 1_200_000 },
    labelSource: 'host',
    registry: { username: '', password: '', platform: 'linux/amd64' },
    containerCheck: 'skip',
    skipIfFresh: false,
    requireSource: false,
    repositoryUrl: 'https://github.com/acme/shop',
    ...overrides
  } as Settings
}

/** Valid rebuild settings, typed as such (for what only rebuild mode has). */
export function makeRebuildSettings(overrides: SettingsOverrides = {}): RebuildSettings {
  return makeSettings({ ...overrides, mode: 'rebuild' }) as RebuildSettings
}

/** A passing rebuild's report with every fact known; override what a test is about. */
export function makeReport(overrides: Partial<Report> = {}, facts: Partial<Facts> = {}): Report {
  return {
    decision: {
      verdict: 'match',
      reason: 'provenance match: 0123456789ab',
      pass: true,
      failure: ''
    },
    facts: {
      ...emptyFacts(),
      expectedRevision: SHA_A,
      imageRevision: SHA_A,
      imageId: `sha256:${IMAGE_HEX}`,
      phases: [
        { name: 'git', ms: 12 },
        { name: 'connect', ms: 1_234 },
        { name: 'hook', ms: 185_000 },
        { name: 'inspect', ms: 850 }
      ],
      ...facts
    },
    repository: 'acme/shop',
    mode: 'rebuild',
    where: 'deploy@staging.example.com:22',
    image: 'registry.example.com/shop:staging',
    totalMs: 187_300,
    ...overrides
  }
}

/**
 * What the action reports for a check that may throw: its result, or the failed decision the
 * boundary makes of the thrown error (by `failedDecision`, the one place that does).
 */
export function decided<T>(check: () => T): T | Decision {
  try {
    return check()
  } catch (error) {
    return failedDecision(error, 'invalid-input')
  }
}

/** The reason of the failed decision a check ends in, or '' when it passes. */
export function reasonOf(check: () => unknown): string {
  try {
    check()
    return ''
  } catch (error) {
    return failedDecision(error, 'invalid-input').reason
  }
}
