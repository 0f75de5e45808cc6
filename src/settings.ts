/** What the gate does once applicability is settled. */
export type Mode = 'rebuild' | 'verify'

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
}

/** Validated, typed inputs: everything past `readSettings` can trust these values. */
export interface Settings {
  mode: Mode
  /** Absolute path of the checkout whose HEAD is the validated revision. */
  checkoutPath: string
  /** Staging image reference, as the retag step will promote it. */
  image: string
  /** `undefined` runs everything locally (self-hosted runner on the staging host). */
  ssh: SshTarget | undefined
  /** Hook script path on the host; empty only in `verify` mode. */
  hook: string
  /** Directory to `cd` into first; empty keeps the login (or runner) directory. */
  hookDir: string
  /** BUILD_CONTEXT as the host sees it (already derived from `path-mapping` when needed). */
  buildContext: string
  staging: StagingTarget
  /** Label that carries the build commit; validated so it is safe inside a Go template. */
  revisionLabel: string
  /** Container CLI on the host (`docker` or `podman`). */
  docker: string
  /** Bounds in milliseconds, so a hung git, ssh or docker never wedges the job. */
  timeouts: { gitMs: number; inspectMs: number; rebuildMs: number }
}

/** The run's context from the runner's environment, read once next to the inputs. */
export interface RunContext {
  /** `owner/name`, for the allowlist and the summary. */
  repository: string
  /** Where relative `path` inputs start. */
  workspace: string
  /** Private files (key, known_hosts, control socket) live below it and nowhere else. */
  runnerTemp: string
}
