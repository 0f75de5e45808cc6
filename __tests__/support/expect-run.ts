/**
 * What the integration tests read from and assert about a run of the bundled action: the ssh
 * inputs that reach the loopback staging host, the outcome most assertions start with, what the
 * run showed, and that it left nothing behind and showed no secret.
 */
import { expect } from '@jest/globals'
import { OUTPUT_NAMES, processesMentioning, type ActionRun } from './action.js'
import type { StagingHost } from './services.js'

/** Inputs that reach the loopback sshd as root with the pinned host key. */
export function sshInputs(host: StagingHost): Record<string, string> {
  return {
    host: '127.0.0.1',
    user: 'root',
    port: String(host.sshPort),
    'private-key': host.privateKey,
    'known-hosts': host.knownHosts
  }
}

/** The exit code and the three outputs most assertions start with. */
export interface Outcome {
  exitCode: number | null
  verdict?: string
  failure?: string
  reason?: string
}

/** The three facts most assertions start with; a failing diff shows the reason. */
export function outcome(run: ActionRun): Outcome {
  const { verdict, failure, reason } = run.outputs
  return { exitCode: run.exitCode, verdict, failure, reason }
}

/**
 * What the run printed, without the `::add-mask::` commands on stdout: the runner consumes those
 * (they register the secrets) and never shows them. The action writes its commands to stdout
 * only, so stderr counts as shown whole.
 */
export function shown(run: ActionRun): string {
  return [
    ...run.stdout.split('\n').filter(line => !line.startsWith('::add-mask::')),
    run.stderr
  ].join('\n')
}

/** The lines of every private key given, apart from the BEGIN/END armour. */
export function secretLines(...keys: string[]): string[] {
  return keys
    .flatMap(key => key.split(/\r?\n/))
    .map(line => line.trim())
    .filter(line => line && !line.startsWith('-----'))
}

/** What a clean run is checked for besides the staging host's key. */
export interface CleanRunOptions {
  /** Other private keys the run was given: none of their lines may show either. */
  keys?: string[]
  /** Other secrets (passwords, tokens) that must not show up. */
  secrets?: string[]
  /**
   * Also: every output is set, and exactly one error annotation on a failure (`<reason>
   * [<failure>]`, the class left out when it only repeats the verdict) and none on a pass.
   */
  complete?: boolean
}

/**
 * Nothing secret or private outlived the run: no file in RUNNER_TEMP, no ssh process (master or
 * client) mentioning it, and no line of the host's key, of `keys` or any of `secrets` in what
 * was shown, the summary or the outputs.
 */
export async function expectCleanRun(
  run: ActionRun,
  host: Pick<StagingHost, 'privateKey'>,
  options: CleanRunOptions = {}
): Promise<void> {
  expect(run.leftInRunnerTemp).toEqual([])
  // A client cut off by a closed master takes a moment to notice; give it one second at most.
  for (let i = 0; i < 20 && processesMentioning(run.runnerTemp).length; i++) {
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  expect(processesMentioning(run.runnerTemp)).toEqual([])
  if (options.complete) {
    expect(Object.keys(run.outputs).sort()).toEqual(OUTPUT_NAMES)
    const { failure, verdict, reason } = run.outputs
    const annotation = failure && failure !== verdict ? `${reason} [${failure}]` : reason
    expect(run.stdout.match(/^::error\b.*$/gm) ?? []).toEqual(
      failure ? [`::error::${annotation}`] : []
    )
  }
  const visible = [shown(run), run.summary, JSON.stringify(run.outputs)].join('\n')
  const secrets = [
    ...secretLines(host.privateKey, ...(options.keys ?? [])),
    ...(options.secrets ?? [])
  ]
  for (const secret of secrets) expect(visible).not.toContain(secret)
}
