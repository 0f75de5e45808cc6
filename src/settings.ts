/**
 * What the gate does once applicability is settled: `rebuild` runs the hook then verifies,
 * `verify` only reads and compares, `promote` verifies the staging image again and retags it by
 * id to the prod image.
 */
export type Mode = 'rebuild' | 'verify' | 'promote'

/** Where the labels are read: docker on the host, or the registry's manifest and config. */
export type LabelSource = 'host' | 'registry'

/**
 * Whether the running staging container must run the verified image: `auto` checks when the
 * container exists (compose does not always recreate it when the tag moves), `require` also
 * fails when it does not exist, `skip` never looks.
 */
export type ContainerCheck = 'auto' | 'require' | 'skip'

/** How to read an image straight from its registry, without any daemon. */
export interface RegistrySettings {
  /** Empty for anonymous pulls. */
  username: string
  /** A token with pull access; masked the moment it is read. */
  password: string
  /** `os/arch[/variant]` to pick from a multi-platform index. */
  platform: string
}

/** What a promotion binds: the tag it writes and the one revision it may carry. */
export interface PromoteSettings {
  prodImage: string
  /**
   * The gate job's `image_id`: promote that exact image even if the staging tag has moved since
   * the gate ran; '' re-reads the staging tag.
   */
  imageId: string
  /** Explicit revision from an earlier gate's output; '' means the checkout's HEAD. */
  expectedRevision: string
  /**
   * label-source registry: the gate job's `image_digest`, the manifest promoted even if the
   * staging tag has moved since the gate ran; '' or absent reads the staging tag.
   */
  imageDigest?: string
}

/** Where the host commands run: over ssh, or on this (self-hosted) runner. */
export interface SshTarget {
  /** Host name or address; validated so it can never be read as an ssh option. */
  host: string
  /** Login user; empty lets ssh pick (its config or the local user). */
  user: string
  port: number
  /** Key text; empty means ssh uses its agent or default identities. Never logged. */
  privateKey: string
  /** Pinned host keys: without them a man in the middle could answer "match". */
  knownHosts: string
  /** Off only by explicit choice, and then warned about on every run. */
  strictHostKeyChecking: boolean
  /**
   * Extra connection attempts when ssh fails before anything ran on the host (refused, reset,
   * DNS, timeout); a flaky network should not block a deploy, a wrong key must not be retried.
   */
  retries: number
}

/** The staging target handed to the hook, always explicit so hook defaults can never aim at prod. */
export interface StagingTarget {
  service: string
  /** Empty when the staging service exposes no port to health-check. */
  port: string
  composeProfile: string
  container: string
  /**
   * Whether staging-container was given. Without it the container check looks for the compose
   * service's containers by label (compose names them `<project>-<service>-1`), then by name.
   */
  containerNamed: boolean
}

/**
 * How the build context is proven to hold the validated revision. `check`: `auto` verifies a git
 * work tree (HEAD and clean) and says so when the context is not one, `require` also fails then,
 * `skip` trusts the hook. `upload` ships `git archive` of the revision instead. `sync` lets the
 * hook move a host clone to the revision first, so the check runs after the hook.
 */
export interface ContextSettings {
  check: 'auto' | 'require' | 'skip'
  upload: boolean
  /** Parent directory for the upload on the host; '' is the ssh user's temp dir. */
  uploadDir: string
  uploadMaxBytes: number
  sync: boolean
}

/**
 * Validated, typed inputs: everything past `readSettings` can trust these values. One shape per
 * mode, so the compiler, not a runtime guard, says what a mode has: the hook and skip-if-fresh
 * only in rebuild, the promotion target only in promote.
 */
export type Settings = RebuildSettings | VerifySettings | PromoteModeSettings

/** rebuild: run the hook on the host, then verify what it built. */
export interface RebuildSettings extends CommonSettings {
  mode: 'rebuild'
  /** Hook script path on the host. */
  hook: string
  /**
   * Read the image and the running containers first and skip the hook when they already prove
   * the validated revision (the staging job deployed the same commit).
   */
  skipIfFresh: boolean
}

/** verify: only read and compare; nothing is built. */
export interface VerifySettings extends CommonSettings {
  mode: 'verify'
}

/** promote: verify the staging image again, then retag it by id to the prod image. */
export interface PromoteModeSettings extends CommonSettings {
  mode: 'promote'
  promote: PromoteSettings
}

/** What every mode has. */
export interface CommonSettings {
  mode: Mode
  /** Absolute path of the checkout whose HEAD is the validated revision. */
  checkoutPath: string
  /** Staging image reference, as the retag step will promote it. */
  image: string
  /** `undefined` runs everything locally (self-hosted runner on the staging host). */
  ssh: SshTarget | undefined
  /** Directory to `cd` into first; empty keeps the login (or runner) directory. */
  hookDir: string
  /** BUILD_CONTEXT as the host sees it (already derived from `path-mapping` when needed). */
  buildContext: string
  context: ContextSettings
  staging: StagingTarget
  /** Label that carries the build commit; validated so it is safe inside a Go template. */
  revisionLabel: string
  /** Container CLI on the host (`docker` or `podman`). */
  docker: string
  /** Bounds in milliseconds, so a hung git, ssh or docker never wedges the job. */
  timeouts: { gitMs: number; inspectMs: number; rebuildMs: number }
  labelSource: LabelSource
  registry: RegistrySettings
  containerCheck: ContainerCheck
  /** A missing source label fails instead of passing; a wrong one always fails. */
  requireSource: boolean
  /** `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY`, what the image's source label must name. */
  repositoryUrl: string
}

/** The run's context from the runner's environment, read once next to the inputs. */
export interface RunContext {
  /** `owner/name`, for the allowlist and the summary. */
  repository: string
  /** Where relative `path` inputs start. */
  workspace: string
  /** Private files (key, known_hosts, control socket) live below it and nowhere else. */
  runnerTemp: string
  /** `https://github.com` or the GHES URL, for the source check. */
  serverUrl: string
}

/**
 * The image the session inspects: in promote mode the gate job's image id when given (the staging
 * tag may have moved since), else the staging tag.
 */
export function inspectedImage(settings: Settings): string {
  return (settings.mode === 'promote' && settings.promote.imageId) || settings.image
}
