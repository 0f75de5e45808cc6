import { describeError, GateError } from '../errors.js'
import { parseChallenges } from './challenge.js'
import { parseObject } from './oci.js'
import type { ImageReference } from './reference.js'
import type { Transport } from './transport.js'

/** How to reach the registry and which image of an index to read. */
export interface RegistryOptions {
  /** '' = anonymous. */
  username: string
  password: string
  /**
   * `os/arch[/variant]`, or several comma-separated (`parsePlatforms`); callers default to
   * `linux/amd64`. Every image any of them may resolve to is read.
   */
  platform: string
  /**
   * The label the gate compares: images a platform may resolve to must agree on it (and on
   * `org.opencontainers.image.source`), else the read fails naming them. Default
   * DEFAULT_REVISION_LABEL.
   */
  revisionLabel?: string
  /** Bound on the whole read: every request, redirect and body. */
  timeoutMs: number
  /**
   * Seam for tests only; default is a fetch over `node:https` with its own agent, whose every
   * socket is destroyed when the read ends.
   */
  fetch?: typeof fetch
  /**
   * Registers a secret derived from the credentials with the runner's log masking (base64 of
   * `user:password`, a bearer token), called as soon as the secret exists: a registry may repeat
   * what it was sent anywhere in what it answers.
   */
  mask?: (secret: string) => void
}

const MAX_TOKEN_BYTES = 1024 * 1024
const MAX_ERROR_BYTES = 16 * 1024
const MAX_REDIRECTS = 5

/** What a request sends besides its method: the Accept, a body and its Content-Type. */
export interface SendOptions {
  accept: string
  body?: Buffer
  contentType?: string
  /** What a 401/403 means here, for its message (default: the pull advice). */
  refused?: string
}

/** A response, and the URL that answered it once redirects were followed. */
interface Answer {
  response: Response
  url: string
}

/**
 * One bounded, authenticated conversation with a registry: the credentials, the token once
 * obtained, redirects, bounded bodies and the deadline; every failure worded as a GateError with
 * the secrets kept out. What is read through it is the reader's (client.ts).
 */
export class RegistrySession {
  private readonly signal: AbortSignal
  private readonly fetch: typeof fetch
  /** `https://<registry>`: the only origin credentials and challenges are taken from. */
  private readonly origin: string
  /** The `Authorization` value that worked (or is being tried); reused for every request. */
  private authorization: string | undefined
  /** The image as the user wrote it, normalized, for messages. */
  readonly name: string
  /** `Basic <base64>` when credentials were given. */
  private readonly basicAuthorization: string | undefined
  /** Every secret this read knows, kept out of every message it words. */
  private readonly secrets: string[] = []

  constructor(
    readonly ref: ImageReference,
    private readonly options: RegistryOptions,
    transport: Transport | undefined
  ) {
    this.signal = AbortSignal.timeout(options.timeoutMs)
    this.fetch = options.fetch ?? transport?.fetch ?? fetch
    this.origin = new URL(`https://${ref.registry}`).origin
    this.name = `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`
    if (options.username) {
      const pair = `${options.username}:${options.password}`
      const encoded = Buffer.from(pair, 'utf8').toString('base64')
      this.basicAuthorization = `Basic ${encoded}`
      this.secret(encoded)
      this.secrets.push(pair, options.password)
    }
  }

  /** A secret from now on: masked in the runner's log and kept out of this read's messages. */
  private secret(value: string): void {
    this.secrets.push(value)
    this.options.mask?.(value)
  }

  /**
   * GET `/v2/<repository>/<path>`, answering one 401 per its challenge and retrying once. A 401 or
   * 403 left after that is `registry-auth`; any other status is the caller's. Only the registry's
   * own 401 is answered: a 401 or 403 from where it redirected (blob storage, another host) is
   * `registry-error`, so credentials never go to a realm another origin names.
   */
  async get(path: string, accept: string, what: string): Promise<Response> {
    return this.send('GET', this.ref.repository, path, what, { accept })
  }

  /**
   * `method` on `/v2/<repository>/<path>` of this registry (or on an absolute URL of its own
   * origin, such as an upload's Location), answering one 401 per its challenge and retrying once.
   * A 401 or 403 left after that is `registry-auth` (worded by `options.refused`, never quoting
   * the answer); only GET and HEAD follow redirects. Writers (a promotion) use it directly.
   */
  async send(
    method: string,
    repository: string,
    path: string,
    what: string,
    options: SendOptions
  ): Promise<Response> {
    const url = /^https:\/\//.test(path)
      ? path
      : `https://${this.ref.registry}/v2/${repository}/${path}`
    if (new URL(url).origin !== this.origin) {
      throw this.error(
        `${what}: ${new URL(url).origin} is not ${this.ref.registry}; refusing to send`
      )
    }
    const init = { method, body: options.body, contentType: options.contentType }
    let answer = await this.follow(url, options.accept, what, this.authorization, init)
    this.refuseForeignAuth(answer, what)
    if (answer.response.status === 401) {
      const challenge = answer.response.headers.get('www-authenticate') ?? ''
      await discard(answer.response)
      const authorization = await this.authenticate(challenge, what)
      if (authorization !== this.authorization) {
        this.authorization = authorization
        answer = await this.follow(url, options.accept, what, authorization, init)
        this.refuseForeignAuth(answer, what)
      }
    }
    const { response } = answer
    if (response.status === 401 || response.status === 403) {
      await discard(response)
      throw new GateError(
        'registry-auth',
        `${this.ref.registry} refused ${this.options.username ? 'the given credentials' : 'anonymous access'} for ${what} (${response.status}): ${options.refused ?? this.authAdvice()}`
      )
    }
    return response
  }

  /** A 401/403 from an origin the registry redirected to ends the read, unanswered. */
  private refuseForeignAuth(answer: Answer, what: string): void {
    const { response, url } = answer
    if (response.status !== 401 && response.status !== 403) return
    const origin = new URL(url).origin
    if (origin === this.origin) return
    void discard(response)
    throw this.error(
      `${what}: the registry redirected to ${origin}, which answered ${response.status}; credentials are only sent to ${this.ref.registry} and the token realm its own challenge names, so this is not retried`
    )
  }

  /**
   * What to check after a refusal. The registry's answer is never quoted on a 401 or 403: some
   * repeat the request's Authorization header, i.e. the credentials, in their error body.
   */
  private authAdvice(): string {
    return this.options.username
      ? `check registry-username and registry-password, and that this user may pull ${this.ref.repository} (the registry's answer is not shown: it may repeat the credentials)`
      : 'if the repository is private, set registry-username and registry-password'
  }

  /** The `Authorization` value a challenge asks for; throws `registry-auth` when there is none. */
  private async authenticate(header: string, what: string): Promise<string> {
    const challenges = parseChallenges(header)
    const bearer = challenges.find(c => c.scheme === 'bearer')
    if (bearer) return `Bearer ${await this.token(bearer.params)}`
    if (challenges.some(c => c.scheme === 'basic')) {
      if (!this.options.username) {
        throw new GateError(
          'registry-auth',
          `${this.ref.registry} requires credentials for ${what} (401, Basic) and none were given`
        )
      }
      return this.basicAuthorization ?? ''
    }
    throw new GateError(
      'registry-auth',
      `${this.ref.registry} answered 401 for ${what} without a Basic or Bearer challenge (WWW-Authenticate: ${JSON.stringify(header.slice(0, 200))})`
    )
  }

  /** Asks the Bearer challenge's realm for a pull token, with Basic credentials when given. */
  private async token(params: Record<string, string>): Promise<string> {
    let url: URL
    try {
      url = new URL(params.realm ?? '')
    } catch {
      throw this.error(
        `${this.ref.registry} sent a Bearer challenge without a usable realm (${JSON.stringify(params.realm ?? '')})`
      )
    }
    if (url.protocol !== 'https:') {
      throw this.error(
        `${this.ref.registry} sent a token realm that is not HTTPS (${url.origin}${url.pathname}); refusing to use it`
      )
    }
    if (params.service) url.searchParams.set('service', params.service)
    const scopes = (params.scope ?? `repository:${this.ref.repository}:pull`).split(' ')
    for (const scope of scopes.filter(Boolean)) url.searchParams.append('scope', scope)
    const endpoint = `token endpoint ${url.origin}${url.pathname}`
    const credentials = this.basicAuthorization
    const { response } = await this.follow(url.href, 'application/json', endpoint, credentials)
    if (response.status === 401 || response.status === 403) {
      await discard(response)
      throw new GateError(
        'registry-auth',
        `${endpoint} refused ${credentials ? 'the given credentials' : 'an anonymous token'} (${response.status}): ${this.authAdvice()}`
      )
    }
    if (!response.ok) throw this.error(`${endpoint}: ${await statusText(response)}`)
    const json = parseObject(await this.body(response, MAX_TOKEN_BYTES, endpoint), endpoint)
    const token = [json.token, json.access_token].find(t => typeof t === 'string' && t !== '')
    if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) {
      throw this.error(`${endpoint} answered without a usable token or access_token`)
    }
    this.secret(token)
    return token
  }

  /**
   * One request, following redirects by hand: only to HTTPS, at most MAX_REDIRECTS, and without
   * the Authorization header once the origin changes (blob storage gets a signed URL instead).
   */
  private async follow(
    url: string,
    accept: string,
    what: string,
    authorization: string | undefined,
    init: { method?: string; body?: Buffer | undefined; contentType?: string | undefined } = {}
  ): Promise<Answer> {
    let current = url
    let auth = authorization
    const method = init.method ?? 'GET'
    const reads = method === 'GET' || method === 'HEAD'
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { accept }
      if (auth) headers.authorization = auth
      if (init.contentType) headers['content-type'] = init.contentType
      let response: Response
      try {
        response = await this.fetch(current, {
          method,
          headers,
          redirect: 'manual',
          signal: this.signal,
          ...(init.body ? { body: init.body } : {})
        })
      } catch (error) {
        throw this.networkError(error, current)
      }
      const redirect = [301, 302, 303, 307, 308].includes(response.status)
      if (!redirect || !reads) return { response, url: current }
      await discard(response)
      const location = response.headers.get('location')
      if (!location) throw this.error(`${what}: redirect ${response.status} without a Location`)
      if (hop >= MAX_REDIRECTS) throw this.error(`${what}: more than ${MAX_REDIRECTS} redirects`)
      const next = new URL(location, current)
      if (next.protocol !== 'https:') {
        throw this.error(`${what}: redirected to ${next.protocol}//${next.host}, not HTTPS`)
      }
      if (next.origin !== new URL(current).origin) auth = undefined
      current = next.href
    }
  }

  /** Reads a body of at most `limit` bytes; a larger one is refused without reading it all. */
  async body(response: Response, limit: number, what: string): Promise<Buffer> {
    const tooLarge = (): GateError =>
      this.error(`${what} is larger than the ${mib(limit)} limit; refusing to read it`)
    const declared = Number(response.headers.get('content-length') ?? 0)
    if (declared > limit) {
      await discard(response)
      throw this.error(
        `${what} is ${declared} bytes (Content-Length), over the ${mib(limit)} limit; refusing to read it`
      )
    }
    if (!response.body) return Buffer.alloc(0)
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const chunks: Uint8Array[] = []
    let total = 0
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>
      try {
        chunk = await reader.read()
      } catch (error) {
        throw this.networkError(error, response.url || what)
      }
      if (chunk.done) break
      total += chunk.value.byteLength
      if (total > limit) {
        await reader.cancel().catch(() => undefined)
        throw tooLarge()
      }
      chunks.push(chunk.value)
    }
    return Buffer.concat(chunks)
  }

  /** Words a failed request; a timeout is worded by `worded`, which sees the aborted signal. */
  private networkError(error: unknown, url: string): GateError {
    // Duck-typed: fetch's errors may come from another realm (a test VM), where instanceof fails.
    const cause = isObject(error) && isObject(error.cause) ? error.cause : undefined
    const code = typeof cause?.code === 'string' ? cause.code : ''
    const message = typeof cause?.message === 'string' ? firstLine(cause.message) : ''
    const detail = cause ? [code, message].filter(Boolean).join(': ') : describeError(error)
    let host = url
    try {
      host = new URL(url).host
    } catch {
      // Not a URL (a body read names what it read); use it as it is.
    }
    if (UNTRUSTED_CERTIFICATE.has(code)) {
      return this.error(
        `the TLS certificate of ${host} is not trusted (${detail}); if the registry uses its own CA, set NODE_EXTRA_CA_CERTS to the registry's CA file`
      )
    }
    if (code.startsWith('ERR_SSL_') || code === 'EPROTO') {
      return this.error(
        `TLS handshake with ${host} failed (${detail}); is it serving plain HTTP? Registries are only read over HTTPS`
      )
    }
    return this.error(`cannot read from ${host}: ${detail}`)
  }

  private timeout(): GateError {
    return this.error(
      `reading ${this.name} from the registry timed out after ${this.options.timeoutMs / 1000} s`
    )
  }

  error(message: string): GateError {
    return new GateError('registry-error', message)
  }

  /**
   * Any failure as a GateError: a timeout wins, then a worded error, then anything else. Every
   * secret of the read is replaced by `***` in the message, whatever text of the registry's it
   * quotes (a 404 body, a challenge, a status line) and whether or not the runner masks it.
   */
  worded(error: unknown): GateError {
    const worded = this.signal.aborted
      ? this.timeout()
      : error instanceof GateError
        ? error
        : this.error(`reading ${this.name} failed: ${describeError(error)}`)
    const message = redact(worded.message, this.secrets)
    return message === worded.message ? worded : new GateError(worded.failure, message)
  }
}

/** Node's codes for a certificate chain that does not end in a trusted CA. */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED'
])

/** Shortest secret replaced in messages: shorter ones would cut words apart (the runner masks them). */
const MIN_REDACTED = 4

/** `text` with every secret of at least MIN_REDACTED characters replaced by `***`, longest first. */
function redact(text: string, secrets: string[]): string {
  return secrets
    .filter(secret => secret.length >= MIN_REDACTED)
    .sort((a, b) => b.length - a.length)
    .reduce((result, secret) => result.split(secret).join('***'), text)
}

/** A byte limit for messages. */
export function mib(bytes: number): string {
  return `${bytes / 1024 / 1024} MiB`
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').slice(0, 200)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Drops an unread body so its socket is released. */
export async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined)
}

/** ` CODE: message` from a registry's JSON error body, or the start of a text one, or ''. */
export async function errorDetail(response: Response): Promise<string> {
  let text = ''
  try {
    const reader = (response.body as ReadableStream<Uint8Array> | null)?.getReader()
    const decoder = new TextDecoder()
    while (reader && text.length < MAX_ERROR_BYTES) {
      const { done, value } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
    await reader?.cancel().catch(() => undefined)
  } catch {
    // A body that cannot be read adds nothing to the message.
  }
  try {
    const json: unknown = JSON.parse(text)
    const first =
      isObject(json) && Array.isArray(json.errors) ? (json.errors as unknown[])[0] : undefined
    if (isObject(first) && typeof first.code === 'string') {
      const message = typeof first.message === 'string' ? `: ${first.message}` : ''
      return ` ${first.code}${message}`.slice(0, 200)
    }
  } catch {
    // Not JSON: show the start of the text instead.
  }
  const line = text.replace(/\s+/g, ' ').trim().slice(0, 120)
  return line ? ` ${JSON.stringify(line)}` : ''
}

/** A failed status as a message: code, reason, rate limit, the registry's own error. */
export async function statusText(response: Response): Promise<string> {
  const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`
  const hint = response.status === 429 ? ' (rate limited)' : ''
  return `the registry answered ${status}${hint}${await errorDetail(response)}`
}
