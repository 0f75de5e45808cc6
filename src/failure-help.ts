import type { FailureClass } from './errors.js'

/**
 * For each failure class, the first thing a deploy engineer should do. Shown in the summary next
 * to the cause, and the README's failure table is checked against it, so the two never drift.
 */
export const FAILURE_HELP: Record<FailureClass, string> = {
  'invalid-input': 'Fix the named input. Nothing ran on the host.',
  'prod-target':
    'Point service, staging-container and staging-port at staging: they equal the prod target. Nothing ran on the host.',
  'git-failed':
    'Check out the validated commit first (actions/checkout) and point path at it; the runner needs git.',
  'empty-revision': 'The checkout gave no revision: check that path is the checkout of this run.',
  'host-key':
    "Compare the fingerprint the host offered with the host's own key; if it is the host's, pin the given line in known-hosts. Otherwise treat it as an attack.",
  transport:
    'Check that the runner can reach host:port and log in as user with private-key (authorized_keys). Connection failures before the hook are retried (ssh-retries).',
  'hook-failed': 'Read the hook output group in the log: the hook failed on the host.',
  timeout:
    'The named bound expired and the work was stopped on the host. Raise that timeout or find what hangs.',
  'inspect-failed':
    'Check the container engine on the host, the docker input and that the image exists there.',
  'missing-label':
    'Build the image with --label org.opencontainers.image.revision=$GIT_SHA (or set revision-label).',
  mismatch:
    'Do not promote: the image was not built from the validated commit. Make the hook rebuild from GIT_SHA.',
  'stale-container':
    'The running staging container runs another image than the verified one: recreate it (compose up --force-recreate).',
  'wrong-source':
    'The image was built from another repository than this one: check the image name and org.opencontainers.image.source.',
  'registry-auth':
    'Check registry-username and registry-password (a token with pull access; a registry promotion also needs push on the prod-image repository).',
  'registry-not-found': 'Check the image reference, its tag and the platform input.',
  'stale-context':
    'The build context on the host is not the validated commit (behind, ahead or dirty), so the hook never ran. Use upload-context: true, or let the hook sync a clean clone (sync-context: true).',
  'registry-error':
    'The registry answered with an error or could not be reached; for a private CA set NODE_EXTRA_CA_CERTS.'
}
