/**
 * Keeps the last `limit` bytes of a stream, so a hook that prints megabytes costs bounded memory
 * while the end of its output, where errors usually are, stays available for the verdict.
 */
export class TailBuffer {
  private chunks: Buffer[] = []
  private size = 0
  /** Bytes seen in all, to tell the user how much was dropped. */
  total = 0

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length
    this.chunks.push(chunk)
    this.size += chunk.length
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()?.length ?? 0
    }
  }

  /** The kept bytes, at most `limit` of them, decoded leniently (invalid UTF-8 becomes U+FFFD). */
  text(): string {
    const all = Buffer.concat(this.chunks)
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8')
  }
}

/** The last few non-empty lines of some output, folded into one line for a reason or message. */
export function lastLines(text: string, count = 3, width = 200): string {
  return text
    .split(/\r\n|\r|\n/)
    .map(line => line.trim())
    .filter(line => line !== '')
    .slice(-count)
    .map(line => (line.length > width ? `${line.slice(0, width)}…` : line))
    .join(' ⏎ ')
}
