import type { Decision } from './decide/verdict.js'
import type { EventContext } from './event-context.js'
import type { RegistryImage, RegistryOptions } from './registry/client.js'
import type { promoteInRegistry } from './registry/promote.js'
import type { LocalRunner, Runner } from './session/runner.js'
import type { SshTarget } from './settings.js'

/** Where the gate's messages go; the action wires it to the runner's log. */
export interface GateLog {
  info(message: string): void
  /** A warning annotation: something the user should fix even though the gate may pass. */
  warning(message: string): void
  /**
   * Opens a collapsed group for a program's live output and returns the writer for its chunks.
   * The output is shown verbatim and never interpreted as workflow commands.
   */
  openRaw(title: string): (chunk: Buffer) => void
  closeRaw(): void
}

/** The gate's only ways to touch the world, so tests swap objects instead of modules. */
export interface GateDeps {
  /** Runs git on this runner, and every session when no host is set. */
  local: LocalRunner
  /** Opens the shared ssh connection; throws a GateError (`host-key`, `transport`) on failure. */
  openSsh(target: SshTarget): Promise<Runner>
  log: GateLog
  now(): number
  /** Waits between connection attempts. */
  sleep(ms: number): Promise<void>
  /** A fresh random token per session for its result lines (never in any argv). */
  nonce(): string
  /** This run's id: it names the run record on the host that a cancellation reads. */
  runId: string
  /** Reads an image's manifest and config from its registry (label-source registry). */
  readRegistry(reference: string, options: RegistryOptions): Promise<RegistryImage>
  /** Promotes in the registry (promote mode, label-source registry); default promoteInRegistry. */
  promoteRegistry?: typeof promoteInRegistry
  /** Where this run's commit came from (event, GITHUB_SHA, pull request head). */
  event: EventContext
  /** Learns the runner the session uses, so a cancellation can reach the host through it. */
  onRunner?(runner: Runner | undefined): void
}

/** How long one phase took, for the summary. */
export interface PhaseTiming {
  name:
    'git' | 'connect' | 'probe' | 'upload' | 'context' | 'hook' | 'inspect' | 'registry' | 'promote'
  ms: number
}

/**
 * What the gate learned, filled in as it goes so that a failure half-way still reports every
 * value it had (an unknown value stays '').
 */
export interface Facts {
  expectedRevision: string
  imageRevision: string
  imageId: string
  /** Manifest digest, when the labels came from the registry. */
  imageDigest: string
  /** The prod image's id after a promotion: equal to imageId, or the promotion failed. */
  prodImageId: string
  /** Registry promotion: the digest the prod tag read back with (equal to imageDigest on a pass). */
  prodImageDigest: string
  /** Every label of the inspected image, for the checks that read more than the revision. */
  labels: Record<string, string>
  /** What the gate established about the build context (verified, uploaded, not verified). */
  contextNote: string
  /** rebuild mode: 'true' when the hook ran, 'false' when skip-if-fresh found it unneeded. */
  rebuilt: '' | 'true' | 'false'
  /** A session started on the host and has not reported its end: the post step must look. */
  sessionOpen: boolean
  phases: PhaseTiming[]
  /** The phase running when the gate stopped, so even an unexpected error gets a class. */
  current: PhaseTiming['name'] | ''
}

/** A fresh, empty set of facts. */
export function emptyFacts(): Facts {
  return {
    expectedRevision: '',
    imageRevision: '',
    imageId: '',
    imageDigest: '',
    prodImageId: '',
    prodImageDigest: '',
    labels: {},
    contextNote: '',
    rebuilt: '',
    sessionOpen: false,
    phases: [],
    current: ''
  }
}

/** What a finished gate run returns: its verdict and everything it learned on the way. */
export interface GateOutcome {
  decision: Decision
  facts: Facts
}

/**
 * A gate run that stopped on an error: the error as thrown (a GateError for every expected
 * failure) and the facts known by then, `facts.current` naming the phase that was running, so the
 * boundary can still report every value and class an unexpected error by its phase.
 */
export class GateStopped extends Error {
  constructor(
    readonly error: unknown,
    readonly facts: Facts
  ) {
    super(error instanceof Error ? error.message : String(error))
    this.name = 'GateStopped'
  }
}
