import { Agent, request } from 'node:https'
import { Readable } from 'node:stream'

/** A fetch for one read, and the way to end every connection it opened. */
export interface Transport {
  fetch: typeof fetch
  /** Destroys every socket, connecting, in a TLS handshake, in use or idle. */
  close(): void
}

/** Statuses a Response cannot carry a body with. */
const NULL_BODY = new Set([101, 103, 204, 205, 304])

/**
 * A fetch over `node:https` with its own agent, for one registry read. Node's built-in fetch
 * keeps a connection that is still in its TLS handshake alive after its signal aborts (its
 * connect timeout, 10 s, ends it): a stalled registry kept the action's process alive long
 * after the verdict. Here an abort destroys the request's socket whatever state it is in, and
 * `close` destroys every socket of the agent, so nothing outlives the read.
 *
 * Network failures reject like fetch's (a TypeError whose `cause` is the socket's error, with
 * its `code`), so callers word them the same way. `init.method` and a Buffer `init.body` are
 * sent as given (with their Content-Length, never chunked: registries refuse chunked manifest
 * PUTs); redirects are returned, never followed.
 */
export function httpsTransport(): Transport {
  const agent = new Agent({ keepAlive: true, maxSockets: 2 })
  const fetchOverHttps = (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const failed = (error: unknown): void =>
        reject(new TypeError('fetch failed', { cause: error }))
      let url: URL
      try {
        url = new URL(input instanceof Request ? input.url : input)
        if (url.protocol !== 'https:') throw new Error(`not an HTTPS URL: ${url.protocol}`)
      } catch (error) {
        failed(error)
        return
      }
      const headers: Record<string, string> = {}
      new Headers(init?.headers).forEach((value, name) => (headers[name] = value))
      const signal = init?.signal ?? undefined
      if (signal?.aborted) {
        failed(signal.reason)
        return
      }
      const method = init?.method ?? 'GET'
      const body = init?.body
      if (body !== undefined && body !== null && !(body instanceof Uint8Array)) {
        failed(new Error('only a Buffer body can be sent'))
        return
      }
      if (method !== 'GET' && method !== 'HEAD')
        headers['content-length'] = String(body?.length ?? 0)
      const req = request(url, { method, headers, agent, signal }, res => {
        try {
          const status = res.statusCode ?? 0
          const answer = new Headers()
          for (let n = 0; n + 1 < res.rawHeaders.length; n += 2) {
            answer.append(res.rawHeaders[n] ?? '', res.rawHeaders[n + 1] ?? '')
          }
          const stream =
            NULL_BODY.has(status) || method === 'HEAD'
              ? null
              : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>)
          if (!stream) res.resume()
          resolve(
            new Response(stream, { status, statusText: res.statusMessage ?? '', headers: answer })
          )
        } catch (error) {
          // A status a Response cannot hold (e.g. 999) or a header it refuses.
          res.destroy()
          failed(error)
        }
      })
      req.on('error', failed)
      req.end(body ?? undefined)
    })
  return { fetch: fetchOverHttps, close: () => agent.destroy() }
}
