import './sourcemap-register.cjs';import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
var __webpack_exports__ = {};

;// CONCATENATED MODULE: external "node:crypto"
const external_node_crypto_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:crypto");
;// CONCATENATED MODULE: external "node:fs"
const external_node_fs_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");
;// CONCATENATED MODULE: external "node:fs/promises"
const promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs/promises");
;// CONCATENATED MODULE: external "node:os"
const external_node_os_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:os");
;// CONCATENATED MODULE: ./src/actions-core.ts
/**
 * The part of @actions/core this action uses, with the same workflow-command and file-command
 * formats (see @actions/core's command.ts and file-command.ts). @actions/core itself imports its
 * OIDC client, @actions/http-client and undici (about 1 MB, 90% of the bundle) at startup.
 */




const escapeData = (text) => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const escapeProperty = (text) => escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
function issue(command, message = '', properties = {}) {
    const props = Object.entries(properties)
        .filter(([, value]) => value)
        .map(([key, value]) => `${key}=${escapeProperty(value)}`)
        .join(',');
    process.stdout.write(`::${command}${props ? ` ${props}` : ''}::${escapeData(message)}${external_node_os_namespaceObject.EOL}`);
}
/** `key<<delimiter` blocks in GITHUB_OUTPUT / GITHUB_STATE, else the old stdout command. */
function keyValue(file, command, name, value) {
    const path = process.env[`GITHUB_${file}`];
    if (!path) {
        if (file === 'OUTPUT')
            process.stdout.write(external_node_os_namespaceObject.EOL);
        issue(command, value, { name });
        return;
    }
    if (!(0,external_node_fs_namespaceObject.existsSync)(path))
        throw new Error(`Missing file at path: ${path}`);
    const delimiter = `ghadelimiter_${(0,external_node_crypto_namespaceObject.randomUUID)()}`;
    if (name.includes(delimiter) || value.includes(delimiter)) {
        throw new Error(`Unexpected input: name or value contains the delimiter "${delimiter}"`);
    }
    (0,external_node_fs_namespaceObject.appendFileSync)(path, `${name}<<${delimiter}${external_node_os_namespaceObject.EOL}${value}${external_node_os_namespaceObject.EOL}${delimiter}${external_node_os_namespaceObject.EOL}`, 'utf8');
}
function getInput(name) {
    return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] || '').trim();
}
function setOutput(name, value) {
    keyValue('OUTPUT', 'set-output', name, value);
}
function saveState(name, value) {
    keyValue('STATE', 'save-state', name, value);
}
function getState(name) {
    return process.env[`STATE_${name}`] || '';
}
function info(message) {
    process.stdout.write(`${message}${external_node_os_namespaceObject.EOL}`);
}
function warning(message) {
    issue('warning', message);
}
function setFailed(message) {
    process.exitCode = 1;
    issue('error', message);
}
function setSecret(secret) {
    issue('add-mask', secret);
}
function startGroup(name) {
    issue('group', name);
}
function endGroup() {
    issue('endgroup');
}
/** `summary.addRaw(text).write()`: appends to GITHUB_STEP_SUMMARY, as @actions/core does. */
class Summary {
    buffer = '';
    addRaw(text) {
        this.buffer += text;
        return this;
    }
    async write() {
        const file = process.env.GITHUB_STEP_SUMMARY;
        if (!file)
            throw new Error('Unable to find environment variable for $GITHUB_STEP_SUMMARY.');
        await (0,promises_namespaceObject.access)(file, promises_namespaceObject.constants.R_OK | promises_namespaceObject.constants.W_OK);
        await (0,promises_namespaceObject.appendFile)(file, this.buffer, 'utf8');
        this.buffer = '';
        return this;
    }
}
const summary = new Summary();

;// CONCATENATED MODULE: ./src/errors.ts
/** A failure whose cause is known and already worded for the user; never shown with a stack. */
class GateError extends Error {
    failure;
    retryable;
    constructor(failure, message, 
    /**
     * Only a connection that failed before anything ran on the host (refused, reset, DNS,
     * timeout) may be tried again; a host key, a refused login or anything later never is.
     */
    retryable = false) {
        super(message);
        this.failure = failure;
        this.retryable = retryable;
        this.name = 'GateError';
    }
}
/** Bad input, caught before anything runs remotely. */
class InputError extends GateError {
    constructor(message, failure = 'invalid-input') {
        super(failure, message);
        this.name = 'InputError';
    }
}
/** One line for an unexpected throw, so even a bug ends in a worded, failed verdict. */
function describeError(error) {
    if (error instanceof Error)
        return error.message || error.name;
    return String(error);
}

;// CONCATENATED MODULE: ./src/applicability.ts

/**
 * Splits an allowlist given as commas or newlines (how YAML users write lists) into entries.
 */
function parseRepositoryList(raw) {
    return raw
        .split(/[,\n]/)
        .map(entry => entry.trim())
        .filter(entry => entry !== '');
}
/** A repository's owner or name as GitHub allows it (`.` and `..` are not names). */
const REPOSITORY_PART = /^(?!\.\.?$)[A-Za-z0-9_.-]+$/;
/** A server prefix people paste with the repository: `https://host[:port]/` or `http://…`. */
const URL_PREFIX = /^https?:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?\//i;
/** A dotted host written before `owner/name` without a scheme, as in `github.com/acme/shop`. */
const HOST_PREFIX = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\/(?=[^/]+\/[^/]+$)/;
/**
 * An allowlist entry as the `owner/name` or bare `name` GITHUB_REPOSITORY is compared with: the
 * clone URL or `.git` suffix people paste would otherwise never match, and the gate would be
 * `not-applicable` (a pass) on every run of the very repository it was meant to guard. Returns
 * `undefined` for anything that still is not a repository, so the caller can refuse it.
 */
function normalizeRepository(entry) {
    let rest = entry.replace(URL_PREFIX, '');
    // A URL must name owner/name: `https://host/shop` would otherwise pass as a bare name.
    if (rest !== entry && rest.replace(/\/$/, '').split('/').length !== 2)
        return undefined;
    // One trailing slash after owner/name is a URL's; `acme/` alone is an owner without a name.
    rest = rest.replace(/^([^/]+\/[^/]+)\/$/, '$1');
    rest = rest.replace(HOST_PREFIX, '').replace(/\.git$/i, '');
    const parts = rest.split('/');
    if (parts.length > 2 || !parts.every(part => REPOSITORY_PART.test(part)))
        return undefined;
    // GitHub reserves the .git suffix: a name still ending in it is a typo, not a repository.
    return /\.git$/i.test(rest) ? undefined : rest;
}
/**
 * Decides whether the gate applies to this run before any input beyond the switch is checked, so
 * the kill switch works even when the rest of the configuration is broken or its secrets are absent.
 * Returns `undefined` when the gate applies; otherwise the passing verdict to report. An allowlist
 * with an unknown repository throws an InputError: it cannot be applied, and a pass would let any
 * run through unchecked.
 */
function decideApplicability(enabled, allowlist, repository) {
    if (!enabled) {
        return {
            verdict: 'disabled',
            reason: 'provenance gate disabled (enabled: false)',
            pass: true,
            failure: ''
        };
    }
    if (allowlist.length === 0)
        return undefined;
    const full = repository.trim().toLowerCase();
    if (!full) {
        throw new InputError('GITHUB_REPOSITORY is empty, so the repositories allowlist cannot be applied: run the gate on GitHub Actions (which sets GITHUB_REPOSITORY), or remove repositories');
    }
    const name = full.slice(full.lastIndexOf('/') + 1);
    const listed = allowlist.some(entry => {
        const wanted = entry.toLowerCase();
        return wanted.includes('/') ? wanted === full : wanted === name;
    });
    if (listed)
        return undefined;
    return {
        verdict: 'not-applicable',
        reason: `provenance gate not applicable: ${repository} is not in repositories`,
        pass: true,
        failure: ''
    };
}

;// CONCATENATED MODULE: ./src/action-log.ts


/** Folds line breaks into ` ⏎ `, so a message is exactly one log line. */
function oneLine(text) {
    return text.replace(/\r\n|\r|\n/g, ' ⏎ ');
}
/**
 * The gate's log on a GitHub runner. A program's raw output is shown in a collapsed group between
 * `stop-commands` markers, so a line it prints such as `::add-mask::` or `::set-output` is only text.
 */
function actionLog(out = process.stdout) {
    let token = '';
    let atLineStart = true;
    return {
        // One line each: a value with a newline must not start a line the runner reads as a command.
        info: message => info(oneLine(message)),
        warning: message => warning(message),
        openRaw: title => {
            startGroup(title);
            token = (0,external_node_crypto_namespaceObject.randomUUID)();
            out.write(`::stop-commands::${token}\n`);
            atLineStart = true;
            return chunk => {
                if (chunk.length === 0)
                    return;
                out.write(chunk);
                atLineStart = chunk[chunk.length - 1] === 0x0a;
            };
        },
        closeRaw: () => {
            if (!atLineStart)
                out.write('\n');
            out.write(`::${token}::\n`);
            endGroup();
        }
    };
}

;// CONCATENATED MODULE: ./src/verdict.ts
/** Object names as git prints them: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits. */
const REVISION_PATTERN = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** Short form used in messages: enough to recognise a commit, short enough for one line. */
function shortSha(sha) {
    return sha.slice(0, 12);
}
/**
 * Compares the validated revision with the image's label. Pure and fail-closed: an empty side is
 * never treated as fresh, and the comparison is exact, so a label with stray whitespace or a
 * newline is a mismatch to look at, not a match to guess at.
 */
function decideVerdict(expected, imageRevision) {
    if (!expected) {
        return failClosed('provenance fail-closed: empty expected revision', 'empty-revision');
    }
    if (!imageRevision) {
        return failClosed('provenance fail-closed: image has no revision label', 'missing-label');
    }
    if (expected === imageRevision) {
        return {
            verdict: 'match',
            reason: `provenance match: ${shortSha(expected)}`,
            pass: true,
            failure: ''
        };
    }
    const [shownImage, shownExpected] = showPair(imageRevision, expected);
    return {
        verdict: 'mismatch',
        reason: `provenance mismatch: image ${shownImage} != expected ${shownExpected}`,
        pass: false,
        failure: 'mismatch'
    };
}
/** A revision for a message: short when it is a plain object name, quoted when it is anything else. */
function showRevision(value) {
    if (/^[0-9a-f]{7,64}$/.test(value))
        return shortSha(value);
    return withWhitespaceNote(value, JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value));
}
function withWhitespaceNote(value, shown) {
    return value.trim() === value ? shown : `${shown} (surrounding whitespace)`;
}
/** Longest value `showPair` shows whole when the short forms do not tell two values apart. */
const MAX_WHOLE = 200;
/** Characters shown either side of the first difference of two longer values. */
const DIFFERENCE_CONTEXT = 40;
/**
 * Two different values as a message shows them side by side: their short forms (`short`, by
 * default a revision's), unless those are equal — values that differ after the 12th character,
 * or one an abbreviation of the other — where `a != b` would read as nonsense. Then each is shown
 * whole (plain ids and revisions as they are, anything else quoted), or for a long value the
 * stretch around the first difference.
 */
function showPair(a, b, short = showRevision) {
    const shortA = short(a);
    const shortB = short(b);
    if (a === b || shortA !== shortB)
        return [shortA, shortB];
    let at = 0;
    while (at < a.length && a[at] === b[at])
        at++;
    return [showWhole(a, at), showWhole(b, at)];
}
function showWhole(value, differsAt) {
    if (/^[A-Za-z0-9:._-]{1,100}$/.test(value))
        return value;
    if (value.length <= MAX_WHOLE)
        return withWhitespaceNote(value, JSON.stringify(value));
    const start = Math.max(0, differsAt - DIFFERENCE_CONTEXT);
    const end = differsAt + DIFFERENCE_CONTEXT;
    const stretch = `${start > 0 ? '…' : ''}${JSON.stringify(value.slice(start, end))}${end < value.length ? '…' : ''}`;
    return withWhitespaceNote(value, `${stretch} (from character ${start + 1} of ${value.length})`);
}
/** The verdict for any doubt that is not a plain mismatch. */
function failClosed(reason, failure) {
    return { verdict: 'fail-closed', reason, pass: false, failure };
}
/**
 * The revision an image claims: its label's value, or '' when the label is absent or holds the
 * placeholder `<no value>` that some tooling writes for an unset build argument.
 */
function revisionOf(labels, label) {
    const value = Object.hasOwn(labels, label) ? (labels[label] ?? '') : '';
    return value === '<no value>' ? '' : value;
}

;// CONCATENATED MODULE: ./src/container-check.ts

/** Short form of an image id for messages: `sha256:` and 12 hex digits. */
function shortId(id) {
    return id.startsWith('sha256:') ? `sha256:${shortSha(id.slice(7))}` : shortSha(id);
}
/**
 * Requires every running staging container to run the verified image: a fresh image next to a
 * container that was never recreated means staging tested old code. `auto` tolerates a missing or
 * stopped container (nothing runs, nothing is stale); `require` wants at least one running. Returns
 * the failed decision, or `undefined` when the containers are fine or were not checked.
 */
function decideContainer(answer, imageId, check, container) {
    if (!answer || check === 'skip')
        return undefined;
    const running = answer.exists ? answer.containers.filter(c => c.running) : [];
    const stale = running.find(c => c.imageId !== imageId);
    if (stale) {
        const [runs, verified] = showPair(stale.imageId, imageId, shortId);
        return failClosed(`provenance fail-closed: the staging container ${stale.name} runs image ${runs}, not the verified ${verified}: it was not recreated after the rebuild`, 'stale-container');
    }
    if (running.length > 0 || check !== 'require')
        return undefined;
    return failClosed(answer.exists
        ? `provenance fail-closed: the staging container ${answer.containers.map(c => c.name).join(', ')} exists but is not running (check-container true)`
        : `provenance fail-closed: the staging container ${container} does not exist on the host (check-container true)`, 'stale-container');
}

;// CONCATENATED MODULE: ./src/source-check.ts

/** The OCI label that names the repository an image was built from. */
const SOURCE_LABEL = 'org.opencontainers.image.source';
/** A repository URL in the one form two spellings of it share: lower case, no `.git`, no `/`. */
function normalizeRepositoryUrl(url) {
    return url
        .trim()
        .toLowerCase()
        .replace(/\/+$/, '')
        .replace(/\.git$/, '');
}
/**
 * Checks the image's source label against this workflow's repository, so an image built from a
 * fork or another project with the same commit id cannot pass. A missing label passes unless
 * `required`; an unknown repository (no GITHUB_REPOSITORY) cannot vouch for any label.
 * Returns `undefined` when the source is fine, else the failed decision.
 */
function decideSource(labels, repositoryUrl, required) {
    const source = labels[SOURCE_LABEL];
    if (source === undefined || source.trim() === '') {
        return required
            ? failClosed(`provenance fail-closed: the image has no ${SOURCE_LABEL} label and require-source is true`, 'wrong-source')
            : undefined;
    }
    if (!repositoryUrl) {
        return failClosed(`provenance fail-closed: the image names its source ${JSON.stringify(source)} but this run does not know its repository (GITHUB_REPOSITORY is not set)`, 'wrong-source');
    }
    if (normalizeRepositoryUrl(source) === normalizeRepositoryUrl(repositoryUrl))
        return undefined;
    return failClosed(`provenance fail-closed: the image was built from ${JSON.stringify(source)}, not from ${repositoryUrl}`, 'wrong-source');
}

;// CONCATENATED MODULE: ./src/registry/json.ts

/** Deeper nesting than any manifest or config has; bounds the parser's recursion. */
const MAX_JSON_DEPTH = 512;
/**
 * Parses a registry document, refusing any object with the same key twice. JSON.parse keeps the
 * last of two equal keys, Go's decoder (the engine's) merges both into one struct or map: the
 * same bytes would give the gate and the engine different labels, so such a document is
 * refused whatever the duplicate is. Throws a `registry-error` naming `what`, never quoting
 * the body (it may repeat what was sent).
 */
function parseStrictJson(text, what) {
    return new StrictParser(text, what).document();
}
class StrictParser {
    text;
    what;
    i = 0;
    constructor(text, what) {
        this.text = text;
        this.what = what;
    }
    document() {
        const value = this.value(0, '');
        this.space();
        if (this.i < this.text.length)
            throw this.fail('has data after the JSON value');
        return value;
    }
    fail(why) {
        return new GateError('registry-error', `${this.what} is not valid JSON: ${why}`);
    }
    space() {
        const text = this.text;
        while (this.i < text.length) {
            const c = text.charCodeAt(this.i);
            if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d)
                break;
            this.i++;
        }
    }
    value(depth, path) {
        if (depth > MAX_JSON_DEPTH)
            throw this.fail(`nests deeper than ${MAX_JSON_DEPTH} levels`);
        this.space();
        const c = this.text[this.i];
        if (c === '{')
            return this.object(depth, path);
        if (c === '[')
            return this.array(depth, path);
        if (c === '"')
            return this.string();
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9'))
            return this.number();
        for (const [word, result] of [
            ['true', true],
            ['false', false],
            ['null', null]
        ]) {
            if (this.text.startsWith(word, this.i)) {
                this.i += word.length;
                return result;
            }
        }
        throw this.fail(`unexpected ${c === undefined ? 'end' : 'character'} at offset ${this.i}`);
    }
    object(depth, path) {
        const result = Object.create(null);
        this.i++;
        this.space();
        if (this.text[this.i] === '}') {
            this.i++;
            return result;
        }
        for (;;) {
            this.space();
            if (this.text[this.i] !== '"')
                throw this.fail(`expected a key at offset ${this.i}`);
            const key = this.string();
            const where = path ? `${path}.${key}` : key;
            if (Object.prototype.hasOwnProperty.call(result, key)) {
                throw new GateError('registry-error', `${this.what} has the key ${JSON.stringify(where)} twice; JSON readers disagree on which one counts, so it is refused`);
            }
            this.space();
            if (this.text[this.i] !== ':')
                throw this.fail(`expected ':' at offset ${this.i}`);
            this.i++;
            result[key] = this.value(depth + 1, where);
            this.space();
            const next = this.text[this.i++];
            if (next === '}')
                return result;
            if (next !== ',')
                throw this.fail(`expected ',' or '}' at offset ${this.i - 1}`);
        }
    }
    array(depth, path) {
        const result = [];
        this.i++;
        this.space();
        if (this.text[this.i] === ']') {
            this.i++;
            return result;
        }
        for (;;) {
            result.push(this.value(depth + 1, `${path}[${result.length}]`));
            this.space();
            const next = this.text[this.i++];
            if (next === ']')
                return result;
            if (next !== ',')
                throw this.fail(`expected ',' or ']' at offset ${this.i - 1}`);
        }
    }
    number() {
        const match = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
        match.lastIndex = this.i;
        const found = match.exec(this.text);
        if (!found)
            throw this.fail(`malformed number at offset ${this.i}`);
        this.i += found[0].length;
        return Number(found[0]);
    }
    /** A string with its escapes decoded; a lone surrogate becomes U+FFFD, as Go decodes it. */
    string() {
        const text = this.text;
        let out = '';
        let start = ++this.i;
        for (;;) {
            if (this.i >= text.length)
                throw this.fail('has an unterminated string');
            const c = text.charCodeAt(this.i);
            if (c === 0x22) {
                out += text.slice(start, this.i++);
                return out.replace(LONE_SURROGATE, '\ufffd');
            }
            if (c < 0x20)
                throw this.fail(`has a control character in a string at offset ${this.i}`);
            if (c !== 0x5c) {
                this.i++;
                continue;
            }
            out += text.slice(start, this.i);
            const escape = text[this.i + 1];
            const simple = escape === undefined ? undefined : ESCAPES[escape];
            if (simple !== undefined) {
                out += simple;
                this.i += 2;
            }
            else if (escape === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(this.i + 2, this.i + 6))) {
                out += String.fromCharCode(parseInt(text.slice(this.i + 2, this.i + 6), 16));
                this.i += 6;
            }
            else {
                throw this.fail(`has a malformed escape at offset ${this.i}`);
            }
            start = this.i;
        }
    }
}
const ESCAPES = {
    '"': '"',
    '\\': '\\',
    '/': '/',
    b: '\b',
    f: '\f',
    n: '\n',
    r: '\r',
    t: '\t'
};
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/**
 * A key as Go's encoding/json compares it with a struct field name: ASCII letters without case,
 * and the two non-ASCII runes whose simple case folding reaches ASCII, U+017F (ſ, an `s`) and
 * U+212A (the Kelvin sign, a `k`). Every other rune folds to a non-ASCII one and so can never
 * equal a field name the gate reads (all ASCII); it is kept as it is.
 */
function foldKey(key) {
    return key.replace(/[a-z\u017f\u212a]/g, c => c === '\u017f' ? 'S' : c === '\u212a' ? 'K' : c.toUpperCase());
}
/** True for a JSON object (not an array, not null). */
function isJsonObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
/**
 * The value of field `name` of `object` as the engine's Go decoder sees it: the key equal to
 * `name` under Go's case folding. Two keys that both fold to `name` (`config` and `Config`,
 * `Labels` and `Labelſ`) are refused: Go decodes both into the one field, merging or
 * overwriting in document order, which no JavaScript reading reproduces safely. `where`
 * names the object for the message (`config blob sha256:…`, `.config`).
 */
function field(object, name, where) {
    const folded = foldKey(name);
    const keys = Object.keys(object).filter(key => foldKey(key) === folded);
    if (keys.length > 1) {
        throw new GateError('registry-error', `${where} has the keys ${keys.map(key => JSON.stringify(key)).join(' and ')}, which the engine reads as the same field ${JSON.stringify(name)} (Go's JSON matches keys without case); refusing an image the gate and the engine would read differently`);
    }
    const [key] = keys;
    return key === undefined ? undefined : object[key];
}

;// CONCATENATED MODULE: ./src/registry/platform.ts

/** More platforms than any deployment lists; bounds what one read fetches. */
const MAX_PLATFORMS = 16;
/** Parses `os/arch` or `os/arch/variant`; throws an InputError otherwise. */
function parsePlatform(text) {
    const parts = text.split('/');
    const word = /^[a-z0-9._-]+$/;
    if (parts.length < 2 || parts.length > 3 || !parts.every(part => word.test(part))) {
        throw new InputError(`platform ${JSON.stringify(text)} is not os/arch or os/arch/variant (e.g. linux/amd64)`);
    }
    const [os = '', architecture = '', variant] = parts;
    return variant === undefined ? { os, architecture } : { os, architecture, variant };
}
/**
 * Parses the `platform` input: one or more `os/arch[/variant]`, comma-separated, every one of
 * which the deployment may pull on (a fleet of amd64 and arm64 hosts lists both, and each is
 * verified). Entries naming the same platform once normalised count once. Throws an
 * InputError naming the entry that is wrong.
 */
function parsePlatforms(raw) {
    const texts = raw
        .split(',')
        .map(text => text.trim())
        .filter(Boolean);
    if (texts.length === 0) {
        throw new InputError(`platform ${JSON.stringify(raw)} names no platform (expected e.g. linux/amd64 or linux/amd64,linux/arm64)`);
    }
    if (texts.length > MAX_PLATFORMS) {
        throw new InputError(`platform lists ${texts.length} platforms, more than ${MAX_PLATFORMS}`);
    }
    const seen = new Set();
    const platforms = [];
    for (const text of texts) {
        const platform = parsePlatform(text);
        const key = formatPlatform(normalizePlatform(platform));
        if (seen.has(key))
            continue;
        seen.add(key);
        platforms.push(platform);
    }
    return platforms;
}
/** `os/arch[/variant]`, as `docker` prints a platform. */
function formatPlatform(platform) {
    return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}
/**
 * containerd's `platforms.Normalize` (github.com/containerd/platforms, database.go), which the
 * engine applies to both sides before comparing: case is ignored, `x86_64`/`x86-64` are
 * amd64, `aarch64` is arm64, `armhf`/`armel` are arm v7/v6, and the baseline variants
 * (amd64 v1, arm64 v8) are ''. An empty os is linux: the engine runs on linux.
 */
function normalizePlatform(platform) {
    let os = platform.os.toLowerCase() || 'linux';
    if (os === 'macos')
        os = 'darwin';
    let architecture = platform.architecture.toLowerCase();
    let variant = (platform.variant ?? '').toLowerCase();
    switch (architecture) {
        case 'i386':
            architecture = '386';
            variant = '';
            break;
        case 'x86_64':
        case 'x86-64':
        case 'amd64':
            architecture = 'amd64';
            if (variant === 'v1')
                variant = '';
            break;
        case 'aarch64':
        case 'arm64':
            architecture = 'arm64';
            if (['8', 'v8', 'v8.0'].includes(variant))
                variant = '';
            else if (['9', '9.0', 'v9.0'].includes(variant))
                variant = 'v9';
            break;
        case 'armhf':
            architecture = 'arm';
            variant = 'v7';
            break;
        case 'armel':
            architecture = 'arm';
            variant = 'v6';
            break;
        case 'arm':
            if (variant === '' || variant === '7')
                variant = 'v7';
            else if (['5', '6', '8'].includes(variant))
                variant = `v${variant}`;
            break;
    }
    return { os, architecture, variant };
}
/** containerd's arm64 variant table (compare.go): each variant runs the older ones. */
const ARM64_VERSIONS = {
    v8: [[8], [0]],
    'v8.0': [[8], [0]],
    ...Object.fromEntries([1, 2, 3, 4, 5, 6, 7, 8, 9].map(minor => [`v8.${minor}`, [[8], [minor]]])),
    v9: [
        [9, 8],
        [0, 5]
    ],
    'v9.0': [
        [9, 8],
        [0, 5]
    ],
    ...Object.fromEntries([1, 2, 3, 4, 5, 6, 7].map(minor => [
        `v9.${minor}`,
        [
            [9, 8],
            [minor, Math.min(minor + 5, 9)]
        ]
    ]))
};
/**
 * containerd's `platformVector` (compare.go): the platforms a host of `host` runs, best first.
 * `platforms.Only(host)` picks the index entry matching the earliest of these; amd64 falls
 * back through its lower v-levels to 386, arm through lower variants, arm64 through lower
 * arm64 variants to 32-bit arm.
 */
function platformVector(host) {
    const { os } = host;
    const vector = [host];
    const level = (variant) => /^v?\d+$/.test(variant) ? Number(variant.replace('v', '')) : NaN;
    switch (host.architecture) {
        case 'amd64': {
            const version = level(host.variant);
            for (let v = version - 1; v >= 1; v--) {
                vector.push(normalizePlatform({ os, architecture: 'amd64', variant: `v${v}` }));
            }
            vector.push({ os, architecture: '386', variant: '' });
            break;
        }
        case 'arm': {
            const version = level(host.variant);
            for (let v = version - 1; v >= 5; v--) {
                vector.push({ os, architecture: 'arm', variant: `v${v}` });
            }
            break;
        }
        case 'arm64': {
            let variant = host.variant || 'v8';
            const versions = ARM64_VERSIONS[variant];
            vector.length = 0;
            if (!versions)
                break;
            const [majors, minors] = versions;
            majors.forEach((major, n) => {
                for (let minor = minors[n] ?? 0; minor >= 0; minor--) {
                    const arm64Variant = minor === 0 ? `v${major}` : `v${major}.${minor}`;
                    vector.push(normalizePlatform({ os, architecture: 'arm64', variant: arm64Variant }));
                }
            });
            if (variant.startsWith('v8') || variant.startsWith('v9'))
                variant = 'v8';
            vector.push(...platformVector(normalizePlatform({ os, architecture: 'arm', variant })));
            break;
        }
    }
    return vector;
}
/**
 * The hosts a requested platform stands for. Without a variant it is any host of that
 * architecture: the engine pulls for its own CPU level (docker asks for `linux/amd64/v3` on a
 * v3 machine), so `linux/amd64` covers amd64 v1 to v4 and `linux/arm64` every arm64 variant.
 * With a variant it is that host only.
 */
function hostsFor(requested) {
    const host = normalizePlatform(requested);
    if (requested.variant !== undefined)
        return [host];
    if (host.architecture === 'amd64') {
        return ['', 'v2', 'v3', 'v4'].map(variant => ({ ...host, variant }));
    }
    if (host.architecture === 'arm64') {
        const variants = new Set(Object.keys(ARM64_VERSIONS).map(variant => normalizePlatform({ ...host, variant }).variant));
        return [...variants].map(variant => ({ ...host, variant }));
    }
    return [host];
}
function same(a, b) {
    return a.os === b.os && a.architecture === b.architecture && a.variant === b.variant;
}
/**
 * Every entry of an index the engine could pull for `requested`: for each host it stands for
 * (`hostsFor`), the entries matching the best-ranked platform of that host's vector, all of
 * them when several tie (engines break ties by order, which an index can game). In index
 * order, each once. Entries without a platform (attestations) are never chosen; an index with
 * nothing else for the platform is not found.
 */
function candidateEntries(entries, requested) {
    const normal = entries.map(entry => entry.platform ? normalizePlatform(entry.platform) : undefined);
    const chosen = new Set();
    for (const host of hostsFor(requested)) {
        for (const wanted of platformVector(host)) {
            const matched = normal.flatMap((have, n) => (have && same(have, wanted) ? [n] : []));
            if (matched.length === 0)
                continue;
            for (const n of matched)
                chosen.add(n);
            break;
        }
    }
    return entries.filter((_entry, n) => chosen.has(n));
}
/**
 * Whether an image config's own platform agrees with what its index entry (or, for a
 * single-platform image, the request) says: os and architecture as containerd normalises
 * them, and the variant when both name one. An entry labelled linux/amd64 over an arm64
 * config would make the gate vouch for an image the engine runs differently.
 */
function configMatches(config, claimed) {
    const have = normalizePlatform(config);
    const want = normalizePlatform(claimed);
    if (have.os !== want.os || have.architecture !== want.architecture)
        return false;
    // Without a variant on either side there is nothing to compare: a request without one stands
    // for every variant of its architecture.
    if (!config.variant || !claimed.variant)
        return true;
    return have.variant === want.variant;
}

;// CONCATENATED MODULE: external "node:https"
const external_node_https_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:https");
;// CONCATENATED MODULE: external "node:stream"
const external_node_stream_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream");
;// CONCATENATED MODULE: ./src/registry/transport.ts


/** Statuses a Response cannot carry a body with. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
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
function httpsTransport() {
    const agent = new external_node_https_namespaceObject.Agent({ keepAlive: true, maxSockets: 2 });
    const fetchOverHttps = (input, init) => new Promise((resolve, reject) => {
        const failed = (error) => reject(new TypeError('fetch failed', { cause: error }));
        let url;
        try {
            url = new URL(input instanceof Request ? input.url : input);
            if (url.protocol !== 'https:')
                throw new Error(`not an HTTPS URL: ${url.protocol}`);
        }
        catch (error) {
            failed(error);
            return;
        }
        const headers = {};
        new Headers(init?.headers).forEach((value, name) => (headers[name] = value));
        const signal = init?.signal ?? undefined;
        if (signal?.aborted) {
            failed(signal.reason);
            return;
        }
        const method = init?.method ?? 'GET';
        const body = init?.body;
        if (body !== undefined && body !== null && !(body instanceof Uint8Array)) {
            failed(new Error('only a Buffer body can be sent'));
            return;
        }
        if (method !== 'GET' && method !== 'HEAD')
            headers['content-length'] = String(body?.length ?? 0);
        const req = (0,external_node_https_namespaceObject.request)(url, { method, headers, agent, signal }, res => {
            try {
                const status = res.statusCode ?? 0;
                const answer = new Headers();
                for (let n = 0; n + 1 < res.rawHeaders.length; n += 2) {
                    answer.append(res.rawHeaders[n] ?? '', res.rawHeaders[n + 1] ?? '');
                }
                const stream = NULL_BODY.has(status) || method === 'HEAD'
                    ? null
                    : external_node_stream_namespaceObject.Readable.toWeb(res);
                if (!stream)
                    res.resume();
                resolve(new Response(stream, { status, statusText: res.statusMessage ?? '', headers: answer }));
            }
            catch (error) {
                // A status a Response cannot hold (e.g. 999) or a header it refuses.
                res.destroy();
                failed(error);
            }
        });
        req.on('error', failed);
        req.end(body ?? undefined);
    });
    return { fetch: fetchOverHttps, close: () => agent.destroy() };
}

;// CONCATENATED MODULE: ./src/registry.ts







/** The label the gate compares when the caller names none (input revision-label's default). */
const DEFAULT_REVISION_LABEL = 'org.opencontainers.image.revision';
const registry_SOURCE_LABEL = 'org.opencontainers.image.source';
/** Manifest types that list one manifest per platform. */
const INDEX_TYPES = [
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json'
];
/** Manifest types of one image. */
const MANIFEST_TYPES = [
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json'
];
const CONFIG_TYPES = [
    'application/vnd.oci.image.config.v1+json',
    'application/vnd.docker.container.image.v1+json'
];
/** Sent on every manifest request: without it registries answer 404 or an old schema. */
const MANIFEST_ACCEPT = [...INDEX_TYPES, ...MANIFEST_TYPES].join(', ');
/** Largest manifest or index we read (the distribution registry's own limit). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Largest image config we read; real ones are a few KiB, a long history a few hundred. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
const MAX_TOKEN_BYTES = 1024 * 1024;
const MAX_ERROR_BYTES = 16 * 1024;
const MAX_REDIRECTS = 5;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const TAG = /^\w[\w.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const DOMAIN = new RegExp(`^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[0-9A-Fa-f:]+\\])(?::([0-9]+))?$`);
/** Any digest the reference grammar allows (`algorithm:hex`); the registry reader wants sha256. */
const ANY_DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
/** docker's NameTotalLengthMax: registry and repository together. */
const MAX_NAME = 255;
/** Bound on the whole reference (it ends up in argv and in messages). */
const MAX_REFERENCE = 512;
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/;
/**
 * The one image reference grammar of the action (distribution/reference, as `docker` reads a
 * reference): the first component is a registry when it has a `.` or `:`, is `localhost`, or has
 * uppercase letters. Input checks, the registry reader and the promote target comparison all
 * split by it, so they cannot disagree about what a reference names. Throws an InputError naming
 * what is wrong.
 */
function splitImageReference(reference) {
    const bad = (why) => badReference(reference, why);
    if (reference.length > MAX_REFERENCE)
        throw bad(`is longer than ${MAX_REFERENCE} characters`);
    let rest = reference;
    let digest;
    const at = rest.indexOf('@');
    if (at >= 0) {
        digest = rest.slice(at + 1);
        rest = rest.slice(0, at);
        if (!ANY_DIGEST.test(digest))
            throw bad('has a malformed digest (expected sha256:<64 hex>)');
    }
    let tag;
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) {
        tag = rest.slice(colon + 1);
        rest = rest.slice(0, colon);
        if (!TAG.test(tag))
            throw bad('has a malformed tag');
    }
    let domain = '';
    let path = rest;
    const slash = rest.indexOf('/');
    if (slash >= 0) {
        const head = rest.slice(0, slash);
        if (/[.:]/.test(head) || head === 'localhost' || head !== head.toLowerCase()) {
            domain = head;
            path = rest.slice(slash + 1);
        }
    }
    if (domain && !DOMAIN.test(domain))
        throw bad('has a malformed registry host');
    if (!path || !path.split('/').every(part => PATH_COMPONENT.test(part))) {
        throw bad('has a malformed repository (lowercase letters and digits, separated by . _ - or /)');
    }
    if (rest.length > MAX_NAME)
        throw bad(`has a name longer than ${MAX_NAME} characters`);
    return { domain, path, tag, digest };
}
function badReference(reference, why) {
    const shown = reference.length > 200 ? `${reference.slice(0, 200)}…` : reference;
    return new InputError(`image reference ${JSON.stringify(shown)} ${why}`);
}
/**
 * The reference as docker names the image locally (`docker.io/library/shop:latest` for `shop`):
 * two references name the same tag exactly when these are equal. Registry hosts compare without
 * case (DNS), tags and digests as written. Throws an InputError for a malformed reference.
 */
function canonicalImageReference(reference) {
    const { domain, path, tag, digest } = splitImageReference(reference);
    const host = domain.toLowerCase();
    const hub = !host || host === 'docker.io' || host === 'index.docker.io';
    const name = hub
        ? `docker.io/${path.includes('/') ? path : `library/${path}`}`
        : `${host}/${path}`;
    const tagPart = tag !== undefined ? `:${tag}` : digest === undefined ? ':latest' : '';
    return `${name}${tagPart}${digest !== undefined ? `@${digest}` : ''}`;
}
/**
 * Splits an image reference the way the Registry HTTP API needs it: Docker Hub is
 * `registry-1.docker.io` with bare names under `library/`; no tag and no digest means `latest`.
 * Stricter than the grammar where the reader must be: only sha256 digests (all it can verify)
 * and ports up to 65535. Throws an InputError naming what is wrong.
 */
function parseImageReference(reference) {
    const parts = splitImageReference(reference);
    const bad = (why) => badReference(reference, why);
    if (parts.digest !== undefined && !DIGEST.test(parts.digest)) {
        throw bad('has a malformed digest (expected sha256:<64 hex>)');
    }
    if (Number(DOMAIN.exec(parts.domain)?.[1] ?? 0) > 65535) {
        throw bad('has a malformed registry host');
    }
    let registry = parts.domain || 'docker.io';
    let repository = parts.path;
    if (['docker.io', 'index.docker.io'].includes(registry.toLowerCase())) {
        registry = 'registry-1.docker.io';
        if (!repository.includes('/'))
            repository = `library/${repository}`;
    }
    const { digest } = parts;
    const tag = parts.tag === undefined && digest === undefined ? 'latest' : parts.tag;
    return { registry, repository, tag, digest };
}
/**
 * Parses a `WWW-Authenticate` header (RFC 7235): one or more challenges, each a scheme and
 * `name=value` parameters whose values are tokens or quoted strings (which may hold commas and
 * backslash escapes). A token68 (`Negotiate abc==`) is skipped.
 */
function parseChallenges(header) {
    const challenges = [];
    let i = 0;
    const at = () => header[i] ?? '';
    const skip = (chars) => {
        while (i < header.length && chars.test(at()))
            i++;
    };
    const token = () => {
        const start = i;
        while (i < header.length && TOKEN_CHAR.test(at()))
            i++;
        return header.slice(start, i);
    };
    // Lenient: an unquoted value runs to the next comma or space (some servers leave URLs bare).
    const bare = () => {
        const start = i;
        while (i < header.length && !/[\s,]/.test(at()))
            i++;
        return header.slice(start, i);
    };
    const quoted = () => {
        let value = '';
        for (i++; i < header.length && at() !== '"'; i++) {
            if (at() === '\\' && i + 1 < header.length)
                i++;
            value += at();
        }
        i++;
        return value;
    };
    while (i < header.length) {
        skip(/[\s,]/);
        const scheme = token();
        if (!scheme) {
            i++;
            continue;
        }
        const challenge = { scheme: scheme.toLowerCase(), params: {} };
        challenges.push(challenge);
        skip(/[ \t]/);
        const token68 = TOKEN68.exec(header.slice(i));
        if (token68)
            i += token68[0].length;
        for (;;) {
            const start = i;
            skip(/[\s,]/);
            const name = token().toLowerCase();
            skip(/[ \t]/);
            if (!name || at() !== '=') {
                i = start;
                break;
            }
            i++;
            skip(/[ \t]/);
            const value = at() === '"' ? quoted() : bare();
            if (!(name in challenge.params))
                challenge.params[name] = value;
        }
    }
    return challenges;
}
/**
 * Reads an image's labels straight from its registry (Registry HTTP API v2 over HTTPS), the way
 * the engine will read them: the manifest, for an index every entry a host of any of
 * `options.platform` could pull (containerd's matcher), then each config blob. Every body is
 * checked against the digest it was asked by; every document is parsed refusing keys that Go's
 * decoder would merge; the entries read must agree on the revision and source labels. Anonymous
 * first; only the registry's own 401 is answered (Basic, or a Bearer token from its realm). The
 * whole read, TLS handshakes included, ends within `options.timeoutMs` and leaves no socket.
 * Throws only GateErrors: `registry-auth`, `registry-not-found` or `registry-error`.
 */
async function readRegistryImage(reference, options) {
    const ref = parseImageReference(reference);
    const platforms = parsePlatforms(options.platform);
    const transport = options.fetch ? undefined : httpsTransport();
    const session = new Session(ref, options, transport);
    try {
        return await session.read(platforms);
    }
    catch (error) {
        throw session.worded(error);
    }
    finally {
        transport?.close();
    }
}
/**
 * Runs `work` with one registry session for `reference` (the same credentials, token cache,
 * deadline and masking as `readRegistryImage`), then closes every socket it opened. What `work`
 * throws comes back as a GateError with every secret of the session redacted. For writers (a
 * promotion) that need the reader's hardened reads and its authentication for a few requests of
 * their own.
 */
async function withRegistrySession(reference, options, work) {
    const ref = parseImageReference(reference);
    const transport = options.fetch ? undefined : httpsTransport();
    const session = new Session(ref, options, transport);
    try {
        return await work(session);
    }
    catch (error) {
        throw session.worded(error);
    }
    finally {
        transport?.close();
    }
}
/** One bounded read: the credentials, the token once obtained, and the deadline. */
class Session {
    ref;
    options;
    signal;
    fetch;
    /** `https://<registry>`: the only origin credentials and challenges are taken from. */
    origin;
    /** The `Authorization` value that worked (or is being tried); reused for every request. */
    authorization;
    /** The image as the user wrote it, normalized, for messages. */
    name;
    /** `Basic <base64>` when credentials were given. */
    basicAuthorization;
    /** Every secret this read knows, kept out of every message it words. */
    secrets = [];
    constructor(ref, options, transport) {
        this.ref = ref;
        this.options = options;
        this.signal = AbortSignal.timeout(options.timeoutMs);
        this.fetch = options.fetch ?? transport?.fetch ?? fetch;
        this.origin = new URL(`https://${ref.registry}`).origin;
        this.name = `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;
        if (options.username) {
            const pair = `${options.username}:${options.password}`;
            const encoded = Buffer.from(pair, 'utf8').toString('base64');
            this.basicAuthorization = `Basic ${encoded}`;
            this.secret(encoded);
            this.secrets.push(pair, options.password);
        }
    }
    /** A secret from now on: masked in the runner's log and kept out of this read's messages. */
    secret(value) {
        this.secrets.push(value);
        this.options.mask?.(value);
    }
    async read(platforms) {
        const top = await this.manifest(this.ref.digest ?? this.ref.tag ?? 'latest', this.ref.digest);
        const images = [];
        if (INDEX_TYPES.includes(top.mediaType)) {
            const entries = descriptors(field(top.json, 'manifests', top.what), `index ${this.name}`);
            const chosen = [];
            for (const platform of platforms) {
                const candidates = candidateEntries(entries, platform);
                if (candidates.length === 0) {
                    const have = [
                        ...new Set(entries.flatMap(e => (e.platform ? [formatPlatform(e.platform)] : [])))
                    ];
                    throw new GateError('registry-not-found', `${this.name} is an index with no manifest for ${formatPlatform(platform)} (it has ${have.join(', ') || 'no platforms'})`);
                }
                for (const entry of candidates)
                    if (!chosen.includes(entry))
                        chosen.push(entry);
            }
            const read = new Map();
            for (const entry of chosen) {
                const claimed = entry.platform ?? { os: '', architecture: '' };
                const shown = formatPlatform(claimed);
                let done = read.get(entry.digest);
                if (!done) {
                    const manifest = await this.manifest(entry.digest, entry.digest, entry.size);
                    if (!MANIFEST_TYPES.includes(manifest.mediaType)) {
                        throw this.error(`the ${shown} entry ${entry.digest} of index ${this.name} is ${manifest.mediaType}, not an image manifest`);
                    }
                    const config = this.configDescriptor(manifest);
                    done = { manifest, config, image: await this.config(config, manifest.digest) };
                    read.set(entry.digest, done);
                }
                const { manifest, config, image } = done;
                this.checkPlatform(image, claimed, `the ${shown} entry ${entry.digest} of index ${this.name}`);
                images.push({
                    platform: shown,
                    manifestDigest: manifest.digest,
                    configDigest: config.digest,
                    labels: image.labels
                });
            }
        }
        else {
            const config = this.configDescriptor(top);
            const image = await this.config(config, top.digest);
            for (const platform of platforms) {
                this.checkPlatform(image, platform, `${this.name} (a single-platform image, asked for ${formatPlatform(platform)})`);
            }
            images.push({
                platform: image.platform ? formatPlatform(image.platform) : '',
                manifestDigest: top.digest,
                configDigest: config.digest,
                labels: image.labels
            });
        }
        const [first] = images;
        if (!first)
            throw this.error(`${this.name}: no image was read`);
        return {
            digest: top.digest,
            manifestDigest: first.manifestDigest,
            configDigest: first.configDigest,
            labels: this.agreed(images),
            images
        };
    }
    /**
     * The labels all `images` share. They must agree on the revision and source labels: the
     * engine may pull any one of them (which one depends on the host's CPU level, on case and
     * alias spellings of the platform, on the order of the index), so every one must carry what
     * the gate checks.
     */
    agreed(images) {
        const valueOf = (image, name) => Object.hasOwn(image.labels, name) ? image.labels[name] : undefined;
        const revision = this.options.revisionLabel || DEFAULT_REVISION_LABEL;
        for (const name of new Set([revision, registry_SOURCE_LABEL])) {
            if (new Set(images.map(image => valueOf(image, name))).size <= 1)
                continue;
            const each = images.map(image => {
                const value = valueOf(image, name);
                return `${image.platform} (manifest ${image.manifestDigest}) has ${value === undefined ? 'none' : JSON.stringify(value.slice(0, 80))}`;
            });
            throw this.error(`${this.name}: the images the engine may pull for ${this.options.platform} disagree on ${name}: ${each.join('; ')}. Which one a host pulls depends on its CPU and the index, so every one must carry the same value`);
        }
        const [first, ...rest] = images;
        return Object.fromEntries(Object.entries(first?.labels ?? {}).filter(([name, value]) => rest.every(image => valueOf(image, name) === value)));
    }
    /** Refuses a config whose own os/architecture/variant is not the platform it was chosen as. */
    checkPlatform(image, claimed, what) {
        if (!image.platform) {
            throw this.error(`${what}: its config names no os and architecture`);
        }
        if (!configMatches(image.platform, claimed)) {
            throw this.error(`${what}: its config says ${formatPlatform(image.platform)}, not ${formatPlatform(claimed)}; refusing an image whose platform is not what was asked for`);
        }
    }
    /** The manifest's config descriptor; only container image configs are read. */
    configDescriptor(manifest) {
        const config = descriptor(field(manifest.json, 'config', manifest.what), `config of ${manifest.what}`);
        if (!CONFIG_TYPES.includes(config.mediaType)) {
            throw this.error(`manifest ${manifest.digest} of ${this.name} has a ${config.mediaType} config: not a container image`);
        }
        return config;
    }
    /**
     * Fetches a manifest by tag or digest and binds it: its sha256 must equal every claim. From
     * `repository` of the same registry when given (a promotion reads its target back).
     */
    async manifest(reference, expectedDigest, expectedSize, repository = this.ref.repository) {
        const what = `manifest ${this.ref.registry}/${repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
        if (expectedSize !== undefined && expectedSize > MAX_MANIFEST_BYTES) {
            throw this.error(`${what} is ${expectedSize} bytes, over the ${mib(MAX_MANIFEST_BYTES)} limit`);
        }
        const response = await this.send('GET', repository, `manifests/${reference}`, what, {
            accept: MANIFEST_ACCEPT
        });
        if (response.status === 404) {
            throw new GateError('registry-not-found', `${what} not found (404${await errorDetail(response)})`);
        }
        if (!response.ok)
            throw this.error(`${what}: ${await statusText(response)}`);
        const contentType = mediaTypeOf(response.headers.get('content-type'));
        if (!INDEX_TYPES.includes(contentType) && !MANIFEST_TYPES.includes(contentType)) {
            await discard(response);
            throw this.error(`${what} came as Content-Type ${JSON.stringify(contentType)}, not an OCI or Docker v2 manifest or index`);
        }
        const body = await this.body(response, MAX_MANIFEST_BYTES, what);
        const digest = sha256(body);
        const claimed = response.headers.get('docker-content-digest');
        if (claimed && claimed !== digest) {
            throw this.error(`${what}: the registry says its digest is ${claimed} but its body hashes to ${digest}`);
        }
        if (expectedDigest && digest !== expectedDigest) {
            throw this.error(`${what}: asked for ${expectedDigest} but the body hashes to ${digest}`);
        }
        if (expectedSize !== undefined && body.length !== expectedSize) {
            throw this.error(`${what} is ${body.length} bytes but its descriptor says ${expectedSize}`);
        }
        const json = parseObject(body, what);
        const schemaVersion = field(json, 'schemaVersion', what);
        if (schemaVersion !== 2) {
            throw this.error(`${what} has schemaVersion ${JSON.stringify(schemaVersion)}, not 2`);
        }
        const mediaType = field(json, 'mediaType', what);
        if (mediaType !== undefined && mediaType !== contentType) {
            throw this.error(`${what} came as Content-Type ${contentType} but says it is ${JSON.stringify(mediaType)}`);
        }
        return { digest, mediaType: contentType, json, what, body };
    }
    /**
     * Fetches the config blob, checks it against its descriptor, and returns `config.Labels` and
     * its platform, every field found the way the engine's Go decoder finds it.
     */
    async config(config, manifestDigest) {
        const what = `config blob ${config.digest} of ${this.name}`;
        if (config.size > MAX_CONFIG_BYTES) {
            throw this.error(`${what} is ${config.size} bytes, over the ${mib(MAX_CONFIG_BYTES)} limit`);
        }
        const response = await this.send('GET', this.ref.repository, `blobs/${config.digest}`, what, {
            accept: `${config.mediaType}, */*`
        });
        if (response.status === 404) {
            throw this.error(`${what} is missing (404${await errorDetail(response)}) although manifest ${manifestDigest} names it`);
        }
        if (!response.ok)
            throw this.error(`${what}: ${await statusText(response)}`);
        const body = await this.body(response, MAX_CONFIG_BYTES, what);
        const digest = sha256(body);
        if (digest !== config.digest)
            throw this.error(`${what}: the body hashes to ${digest}`);
        if (body.length !== config.size) {
            throw this.error(`${what} is ${body.length} bytes but the manifest says ${config.size}`);
        }
        const json = parseObject(body, what);
        const platform = platformOf(json, what);
        const inner = field(json, 'config', what);
        if (inner === undefined || inner === null)
            return { labels: {}, platform };
        if (!isJsonObject(inner))
            throw this.error(`${what} has a config that is not an object`);
        const labels = field(inner, 'Labels', `${what} (in its config)`);
        if (labels === undefined || labels === null)
            return { labels: {}, platform };
        if (!isJsonObject(labels) || !Object.values(labels).every(value => typeof value === 'string')) {
            throw this.error(`${what} has config.Labels that is not a map of strings`);
        }
        return {
            labels: Object.fromEntries(Object.entries(labels)),
            platform
        };
    }
    /**
     * `method` on `/v2/<repository>/<path>` of this registry (or on an absolute URL of its own
     * origin, such as an upload's Location), answering one 401 per its challenge and retrying
     * once. A 401 or 403 left after that is `registry-auth` (worded by `options.refused`, never
     * quoting the answer); any other status is the caller's. Only the registry's own 401 is
     * answered: a 401 or 403 from where it redirected (blob storage, another host) is
     * `registry-error`, so credentials never go to a realm another origin names. Only GET and
     * HEAD follow redirects.
     */
    async send(method, repository, path, what, options) {
        const url = /^https:\/\//.test(path)
            ? path
            : `https://${this.ref.registry}/v2/${repository}/${path}`;
        if (new URL(url).origin !== this.origin) {
            throw this.error(`${what}: ${new URL(url).origin} is not ${this.ref.registry}; refusing to send`);
        }
        const init = { method, body: options.body, contentType: options.contentType };
        let answer = await this.follow(url, options.accept, what, this.authorization, init);
        this.refuseForeignAuth(answer, what);
        if (answer.response.status === 401) {
            const challenge = answer.response.headers.get('www-authenticate') ?? '';
            await discard(answer.response);
            const authorization = await this.authenticate(challenge, what);
            if (authorization !== this.authorization) {
                this.authorization = authorization;
                answer = await this.follow(url, options.accept, what, authorization, init);
                this.refuseForeignAuth(answer, what);
            }
        }
        const { response } = answer;
        if (response.status === 401 || response.status === 403) {
            await discard(response);
            throw new GateError('registry-auth', `${this.ref.registry} refused ${this.options.username ? 'the given credentials' : 'anonymous access'} for ${what} (${response.status}): ${options.refused ?? this.authAdvice()}`);
        }
        return response;
    }
    /** A 401/403 from an origin the registry redirected to ends the read, unanswered. */
    refuseForeignAuth(answer, what) {
        const { response, url } = answer;
        if (response.status !== 401 && response.status !== 403)
            return;
        const origin = new URL(url).origin;
        if (origin === this.origin)
            return;
        void discard(response);
        throw this.error(`${what}: the registry redirected to ${origin}, which answered ${response.status}; credentials are only sent to ${this.ref.registry} and the token realm its own challenge names, so this is not retried`);
    }
    /**
     * What to check after a refusal. The registry's answer is never quoted on a 401 or 403: some
     * repeat the request's Authorization header, i.e. the credentials, in their error body.
     */
    authAdvice() {
        return this.options.username
            ? `check registry-username and registry-password, and that this user may pull ${this.ref.repository} (the registry's answer is not shown: it may repeat the credentials)`
            : 'if the repository is private, set registry-username and registry-password';
    }
    /** The `Authorization` value a challenge asks for; throws `registry-auth` when there is none. */
    async authenticate(header, what) {
        const challenges = parseChallenges(header);
        const bearer = challenges.find(c => c.scheme === 'bearer');
        if (bearer)
            return `Bearer ${await this.token(bearer.params)}`;
        if (challenges.some(c => c.scheme === 'basic')) {
            if (!this.options.username) {
                throw new GateError('registry-auth', `${this.ref.registry} requires credentials for ${what} (401, Basic) and none were given`);
            }
            return this.basicAuthorization ?? '';
        }
        throw new GateError('registry-auth', `${this.ref.registry} answered 401 for ${what} without a Basic or Bearer challenge (WWW-Authenticate: ${JSON.stringify(header.slice(0, 200))})`);
    }
    /** Asks the Bearer challenge's realm for a pull token, with Basic credentials when given. */
    async token(params) {
        let url;
        try {
            url = new URL(params.realm ?? '');
        }
        catch {
            throw this.error(`${this.ref.registry} sent a Bearer challenge without a usable realm (${JSON.stringify(params.realm ?? '')})`);
        }
        if (url.protocol !== 'https:') {
            throw this.error(`${this.ref.registry} sent a token realm that is not HTTPS (${url.origin}${url.pathname}); refusing to use it`);
        }
        if (params.service)
            url.searchParams.set('service', params.service);
        const scopes = (params.scope ?? `repository:${this.ref.repository}:pull`).split(' ');
        for (const scope of scopes.filter(Boolean))
            url.searchParams.append('scope', scope);
        const endpoint = `token endpoint ${url.origin}${url.pathname}`;
        const credentials = this.basicAuthorization;
        const { response } = await this.follow(url.href, 'application/json', endpoint, credentials);
        if (response.status === 401 || response.status === 403) {
            await discard(response);
            throw new GateError('registry-auth', `${endpoint} refused ${credentials ? 'the given credentials' : 'an anonymous token'} (${response.status}): ${this.authAdvice()}`);
        }
        if (!response.ok)
            throw this.error(`${endpoint}: ${await statusText(response)}`);
        const json = parseObject(await this.body(response, MAX_TOKEN_BYTES, endpoint), endpoint);
        const token = [json.token, json.access_token].find(t => typeof t === 'string' && t !== '');
        if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) {
            throw this.error(`${endpoint} answered without a usable token or access_token`);
        }
        this.secret(token);
        return token;
    }
    /**
     * One request, following redirects by hand: only to HTTPS, at most MAX_REDIRECTS, and without
     * the Authorization header once the origin changes (blob storage gets a signed URL instead).
     */
    async follow(url, accept, what, authorization, init = {}) {
        let current = url;
        let auth = authorization;
        const method = init.method ?? 'GET';
        const reads = method === 'GET' || method === 'HEAD';
        for (let hop = 0;; hop++) {
            const headers = { accept };
            if (auth)
                headers.authorization = auth;
            if (init.contentType)
                headers['content-type'] = init.contentType;
            let response;
            try {
                response = await this.fetch(current, {
                    method,
                    headers,
                    redirect: 'manual',
                    signal: this.signal,
                    ...(init.body ? { body: init.body } : {})
                });
            }
            catch (error) {
                throw this.networkError(error, current);
            }
            const redirect = [301, 302, 303, 307, 308].includes(response.status);
            if (!redirect || !reads)
                return { response, url: current };
            await discard(response);
            const location = response.headers.get('location');
            if (!location)
                throw this.error(`${what}: redirect ${response.status} without a Location`);
            if (hop >= MAX_REDIRECTS)
                throw this.error(`${what}: more than ${MAX_REDIRECTS} redirects`);
            const next = new URL(location, current);
            if (next.protocol !== 'https:') {
                throw this.error(`${what}: redirected to ${next.protocol}//${next.host}, not HTTPS`);
            }
            if (next.origin !== new URL(current).origin)
                auth = undefined;
            current = next.href;
        }
    }
    /** Reads a body of at most `limit` bytes; a larger one is refused without reading it all. */
    async body(response, limit, what) {
        const tooLarge = () => this.error(`${what} is larger than the ${mib(limit)} limit; refusing to read it`);
        const declared = Number(response.headers.get('content-length') ?? 0);
        if (declared > limit) {
            await discard(response);
            throw this.error(`${what} is ${declared} bytes (Content-Length), over the ${mib(limit)} limit; refusing to read it`);
        }
        if (!response.body)
            return Buffer.alloc(0);
        const reader = response.body.getReader();
        const chunks = [];
        let total = 0;
        for (;;) {
            let chunk;
            try {
                chunk = await reader.read();
            }
            catch (error) {
                throw this.networkError(error, response.url || what);
            }
            if (chunk.done)
                break;
            total += chunk.value.byteLength;
            if (total > limit) {
                await reader.cancel().catch(() => undefined);
                throw tooLarge();
            }
            chunks.push(chunk.value);
        }
        return Buffer.concat(chunks);
    }
    /** Words a failed request; a timeout is worded by `worded`, which sees the aborted signal. */
    networkError(error, url) {
        // Duck-typed: fetch's errors may come from another realm (a test VM), where instanceof fails.
        const cause = isObject(error) && isObject(error.cause) ? error.cause : undefined;
        const code = typeof cause?.code === 'string' ? cause.code : '';
        const message = typeof cause?.message === 'string' ? firstLine(cause.message) : '';
        const detail = cause ? [code, message].filter(Boolean).join(': ') : describeError(error);
        let host = url;
        try {
            host = new URL(url).host;
        }
        catch {
            // Not a URL (a body read names what it read); use it as it is.
        }
        if (UNTRUSTED_CERTIFICATE.has(code)) {
            return this.error(`the TLS certificate of ${host} is not trusted (${detail}); if the registry uses its own CA, set NODE_EXTRA_CA_CERTS to the registry's CA file`);
        }
        if (code.startsWith('ERR_SSL_') || code === 'EPROTO') {
            return this.error(`TLS handshake with ${host} failed (${detail}); is it serving plain HTTP? Registries are only read over HTTPS`);
        }
        return this.error(`cannot read from ${host}: ${detail}`);
    }
    timeout() {
        return this.error(`reading ${this.name} from the registry timed out after ${this.options.timeoutMs / 1000} s`);
    }
    error(message) {
        return new GateError('registry-error', message);
    }
    /**
     * Any failure as a GateError: a timeout wins, then a worded error, then anything else. Every
     * secret of the read is replaced by `***` in the message, whatever text of the registry's it
     * quotes (a 404 body, a challenge, a status line) and whether or not the runner masks it.
     */
    worded(error) {
        const worded = this.signal.aborted
            ? this.timeout()
            : error instanceof GateError
                ? error
                : this.error(`reading ${this.name} failed: ${describeError(error)}`);
        const message = redact(worded.message, this.secrets);
        return message === worded.message ? worded : new GateError(worded.failure, message);
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
]);
/** Shortest secret replaced in messages: shorter ones would cut words apart (the runner masks them). */
const MIN_REDACTED = 4;
/** `text` with every secret of at least MIN_REDACTED characters replaced by `***`, longest first. */
function redact(text, secrets) {
    return secrets
        .filter(secret => secret.length >= MIN_REDACTED)
        .sort((a, b) => b.length - a.length)
        .reduce((result, secret) => result.split(secret).join('***'), text);
}
function sha256(body) {
    return `sha256:${(0,external_node_crypto_namespaceObject.createHash)('sha256').update(body).digest('hex')}`;
}
function mib(bytes) {
    return `${bytes / 1024 / 1024} MiB`;
}
function firstLine(text) {
    return (text.split('\n')[0] ?? '').slice(0, 200);
}
function mediaTypeOf(contentType) {
    return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}
function isObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
function parseObject(body, what) {
    const json = parseStrictJson(body.toString('utf8'), what);
    if (!isJsonObject(json))
        throw new GateError('registry-error', `${what} is not a JSON object`);
    return json;
}
/** A string field or nothing; any other type is refused (the engine's decoder refuses it too). */
function stringField(object, name, what) {
    const value = field(object, name, what);
    if (value === undefined || value === null)
        return undefined;
    if (typeof value !== 'string') {
        throw new GateError('registry-error', `${what} has ${name} that is not a string`);
    }
    return value;
}
/** The platform an object (index entry's `platform`, image config) names, if it names one. */
function platformOf(object, what) {
    const os = stringField(object, 'os', what);
    const architecture = stringField(object, 'architecture', what);
    const variant = stringField(object, 'variant', what);
    if (!architecture)
        return undefined;
    const platform = { os: os ?? '', architecture };
    if (variant)
        platform.variant = variant;
    return platform;
}
/** Checks one descriptor's shape; only sha256 digests are accepted (all we can verify). */
function descriptor(value, what) {
    const bad = (why) => new GateError('registry-error', `${what} ${why}`);
    if (!isJsonObject(value))
        throw bad('is missing or not a descriptor');
    const mediaType = field(value, 'mediaType', what);
    const digest = field(value, 'digest', what);
    const size = field(value, 'size', what);
    const platform = field(value, 'platform', what);
    if (typeof mediaType !== 'string')
        throw bad('has no mediaType');
    if (typeof digest !== 'string' || !DIGEST.test(digest)) {
        throw bad(`has digest ${JSON.stringify(digest)}, not sha256:<64 hex>`);
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        throw bad(`has size ${JSON.stringify(size)}, not a byte count`);
    }
    const result = { mediaType, digest, size };
    if (platform !== undefined && platform !== null) {
        if (!isJsonObject(platform))
            throw bad('has a platform that is not an object');
        const named = platformOf(platform, `the platform of ${what}`);
        if (named)
            result.platform = named;
    }
    return result;
}
/** An index's `manifests`: every entry a descriptor, or a registry-error. */
function descriptors(value, what) {
    if (!Array.isArray(value)) {
        throw new GateError('registry-error', `${what} has no manifests list`);
    }
    return value.map((entry, n) => descriptor(entry, `entry ${n} of ${what}`));
}
/** Ends a response unread, so its socket is released (writers discard what they do not quote). */
async function discard(response) {
    await response.body?.cancel().catch(() => undefined);
}
/** ` CODE: message` from a registry's JSON error body, or the start of a text one, or ''. */
async function errorDetail(response) {
    let text = '';
    try {
        const reader = response.body?.getReader();
        const decoder = new TextDecoder();
        while (reader && text.length < MAX_ERROR_BYTES) {
            const { done, value } = await reader.read();
            if (done)
                break;
            text += decoder.decode(value, { stream: true });
        }
        await reader?.cancel().catch(() => undefined);
    }
    catch {
        // A body that cannot be read adds nothing to the message.
    }
    try {
        const json = JSON.parse(text);
        const first = isObject(json) && Array.isArray(json.errors) ? json.errors[0] : undefined;
        if (isObject(first) && typeof first.code === 'string') {
            const message = typeof first.message === 'string' ? `: ${first.message}` : '';
            return ` ${first.code}${message}`.slice(0, 200);
        }
    }
    catch {
        // Not JSON: show the start of the text instead.
    }
    const line = text.replace(/\s+/g, ' ').trim().slice(0, 120);
    return line ? ` ${JSON.stringify(line)}` : '';
}
/**
 * `the registry answered <status>` with the registry's error code, for a status nobody expected;
 * never used on a 401/403 (their body may repeat the credentials).
 */
async function statusText(response) {
    const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
    const hint = response.status === 429 ? ' (rate limited)' : '';
    return `the registry answered ${status}${hint}${await errorDetail(response)}`;
}

;// CONCATENATED MODULE: ./src/registry/promote.ts





/**
 * Promotes by digest in the registry, with no host and no daemon: reads the staging manifest
 * (exactly `imageDigest` when given) with the hardened reader, requires every image in it, each
 * entry of an index, to pass `check`; only then mounts the blobs into the prod repository (when
 * it is another one), puts the child manifests of an index by digest, puts the exact bytes read
 * under the prod tag, and reads the tag back, requiring the same digest. A stale or unlabelled
 * image writes nothing. Throws only GateErrors (`registry-auth` for refused credentials or a
 * missing push right, `registry-error`, `registry-not-found`), with every secret redacted.
 */
async function promoteInRegistry(request, options) {
    const staging = parseImageReference(request.image);
    const prod = parseImageReference(request.prodImage);
    if (prod.registry.toLowerCase() !== staging.registry.toLowerCase()) {
        throw new GateError('registry-error', `prod-image ${request.prodImage} is on ${prod.registry}, not on ${staging.registry} where ${request.image} is: a registry promotion writes within one registry`);
    }
    if (prod.digest !== undefined || prod.tag === undefined) {
        throw new GateError('registry-error', `prod-image ${request.prodImage} must be a tag to write`);
    }
    const prodTag = prod.tag;
    const platforms = parsePlatforms(options.platform);
    return withRegistrySession(request.image, options, async (session) => {
        const pinned = request.imageDigest || staging.digest;
        const top = await session.manifest(pinned ?? staging.tag ?? 'latest', pinned);
        const read = await readAll(session, top, platforms);
        const staged = stagedImage(top, read.images, platforms);
        request.log(`registry: ${request.image}${request.imageDigest ? ` (image-digest ${request.imageDigest})` : ''} is ${top.digest}: ${describeImages(read.images)}`);
        request.onStaged?.(staged);
        const failed = firstFailure(read.images, request.check, INDEX_TYPES.includes(top.mediaType));
        if (failed) {
            request.log(`not promoting: ${failed.reason}; ${request.prodImage} is left as it is`);
            return { staged, prodDigest: '', failed };
        }
        const refused = `check that registry-username may push to ${prod.repository} and pull ${staging.repository} (a token needs pull on the staging repository and push on the prod one; the registry's answer is not shown: it may repeat the credentials)`;
        if (prod.repository !== staging.repository) {
            const blobs = blobsToMount(read.children.length ? read.children : [top]);
            request.log(`mounting ${blobs.length} blob${blobs.length === 1 ? '' : 's'} from ${staging.repository} into ${prod.repository}`);
            for (const digest of blobs) {
                await mountBlob(session, digest, staging.repository, prod.repository, refused);
            }
            for (const child of read.children) {
                await putManifest(session, prod.repository, child.digest, child, refused);
            }
        }
        await putManifest(session, prod.repository, prodTag, top, refused);
        const back = await session.manifest(prodTag, undefined, undefined, prod.repository);
        if (back.digest !== top.digest) {
            return {
                staged,
                prodDigest: back.digest,
                failed: failClosed(`provenance fail-closed: after the push, ${request.prodImage} is ${back.digest}, not the verified ${top.digest}: something else wrote the tag at the same time`, 'mismatch')
            };
        }
        request.log(`promoted: ${request.prodImage} is ${back.digest} (read back)`);
        return { staged, prodDigest: back.digest, failed: undefined };
    });
}
/**
 * Reads every image the manifest holds: for an index every entry (not only the platforms a
 * host would pick: the whole index is what gets promoted), each bound to its digest and size,
 * each an image manifest whose config names the platform its entry claims. The platforms asked
 * for must each have an entry, as when reading for a verdict.
 */
async function readAll(session, top, platforms) {
    if (!INDEX_TYPES.includes(top.mediaType)) {
        const config = session.configDescriptor(top);
        const image = await session.config(config, top.digest);
        for (const platform of platforms) {
            session.checkPlatform(image, platform, `${session.name} (a single-platform image, asked for ${formatPlatform(platform)})`);
        }
        const platform = image.platform ? formatPlatform(image.platform) : '';
        const one = {
            platform,
            manifestDigest: top.digest,
            configDigest: config.digest,
            labels: image.labels
        };
        return { images: [one], children: [] };
    }
    const index = `index ${top.digest} of ${session.name}`;
    const entries = descriptors(field(top.json, 'manifests', top.what), index);
    if (entries.length === 0)
        throw session.error(`${index} lists no manifests: nothing to promote`);
    for (const platform of platforms) {
        if (candidateEntries(entries, platform).length === 0) {
            throw new GateError('registry-not-found', `${index} has no manifest for ${formatPlatform(platform)}`);
        }
    }
    const images = [];
    const children = new Map();
    const configs = new Map();
    for (const [n, entry] of entries.entries()) {
        const claimed = entry.platform ?? { os: '', architecture: '' };
        const shown = formatPlatform(claimed);
        const what = `entry ${n} (${shown || 'no platform'}, ${entry.digest}) of ${index}`;
        let config = configs.get(entry.digest);
        if (!config) {
            const child = await session.manifest(entry.digest, entry.digest, entry.size);
            if (!MANIFEST_TYPES.includes(child.mediaType)) {
                throw session.error(`${what} is ${child.mediaType}, not an image manifest; only an index of images is promoted`);
            }
            children.set(entry.digest, child);
            const found = session.configDescriptor(child);
            config = { digest: found.digest, image: await session.config(found, child.digest) };
            configs.set(entry.digest, config);
        }
        session.checkPlatform(config.image, claimed, what);
        images.push({
            platform: shown,
            manifestDigest: entry.digest,
            configDigest: config.digest,
            labels: config.image.labels
        });
    }
    return { images, children: [...children.values()] };
}
/**
 * The staging image as the gate reports it: the top digest, and of the images the first
 * platform asked for resolves to, the first (the image id a host of that platform gets); the
 * labels every image shares.
 */
function stagedImage(top, images, platforms) {
    const [wanted] = platforms;
    let first = images[0];
    if (wanted && INDEX_TYPES.includes(top.mediaType)) {
        const entries = images.map(image => ({
            mediaType: '',
            digest: image.manifestDigest,
            size: 0,
            platform: promote_platformOf(image.platform)
        }));
        const [entry] = candidateEntries(entries, wanted);
        first = images.find(image => image.manifestDigest === entry?.digest) ?? first;
    }
    return {
        digest: top.digest,
        manifestDigest: first?.manifestDigest ?? '',
        configDigest: first?.configDigest ?? '',
        labels: sharedLabels(images),
        images
    };
}
function promote_platformOf(shown) {
    const [os = '', architecture = '', variant] = shown.split('/');
    if (!architecture)
        return undefined;
    return variant ? { os, architecture, variant } : { os, architecture };
}
/** The labels every image carries with the same value (one that differs is left out). */
function sharedLabels(images) {
    const [first, ...rest] = images;
    return Object.fromEntries(Object.entries(first?.labels ?? {}).filter(([name, value]) => rest.every(image => Object.hasOwn(image.labels, name) && image.labels[name] === value)));
}
function describeImages(images) {
    return images
        .map(image => `${image.platform || '?'} manifest ${image.manifestDigest}, config ${image.configDigest}`)
        .join('; ');
}
/**
 * The first image that fails `check`, as a decision naming it. An index is promoted only when
 * every entry passes: prod hosts of any platform pull from the promoted tag, so one stale or
 * unlabelled entry would ship a build of another commit. Undefined when all pass.
 */
function firstFailure(images, check, isIndex) {
    const failures = images.flatMap((image, n) => {
        const failed = check(image.labels);
        return failed ? [{ n, image, failed }] : [];
    });
    const [first] = failures;
    if (!first)
        return undefined;
    if (!isIndex)
        return first.failed;
    const others = failures.length - 1;
    const more = others ? ` (and ${others} more of its ${images.length} entries)` : '';
    return {
        ...first.failed,
        reason: `${first.failed.reason} in index entry ${first.n} (${first.image.platform || 'no platform'}, manifest ${first.image.manifestDigest})${more}; an index is promoted only when every entry passes`
    };
}
/**
 * The blobs a repository needs before these image manifests can be put into it: each config,
 * then each layer, in order, each digest once. Only sha256 descriptors are accepted (what the
 * reader verifies); a manifest without a layers list is refused.
 */
function blobsToMount(manifests) {
    const digests = [];
    const add = (digest) => {
        if (!digests.includes(digest))
            digests.push(digest);
    };
    for (const manifest of manifests) {
        add(descriptor(field(manifest.json, 'config', manifest.what), `config of ${manifest.what}`).digest);
        const layers = field(manifest.json, 'layers', manifest.what);
        if (!Array.isArray(layers)) {
            throw new GateError('registry-error', `${manifest.what} has no layers list`);
        }
        for (const [n, layer] of layers.entries()) {
            if (!isJsonObject(layer)) {
                throw new GateError('registry-error', `layer ${n} of ${manifest.what} is not a descriptor`);
            }
            add(descriptor(layer, `layer ${n} of ${manifest.what}`).digest);
        }
    }
    return digests;
}
/**
 * Makes a blob of `from` available in `to` by a cross-repository mount (201). A registry that
 * answers 202 started an upload instead (it could not or would not mount): the upload is
 * cancelled and the promotion fails, since copying layers through the runner is not done.
 */
async function mountBlob(session, digest, from, to, refused) {
    const { registry } = session.ref;
    const what = `mounting blob ${digest} from ${from} into ${registry}/${to}`;
    const query = `mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
    const response = await session.send('POST', to, `blobs/uploads/?${query}`, what, {
        accept: '*/*',
        refused
    });
    if (response.status === 201) {
        await discard(response);
        return;
    }
    if (response.status === 202) {
        await discard(response);
        const location = response.headers.get('location');
        const cancelled = location ? await cancelUpload(session, to, location, refused) : false;
        throw session.error(`${registry} did not mount blob ${digest} from ${from} into ${to}: it started an upload instead (202${cancelled ? ', cancelled' : location ? ', which could not be cancelled' : ''}). A registry promotion into another repository needs cross-repository blob mounts; promote within the staging repository, or check that the blob exists in ${from}`);
    }
    throw session.error(`${what}: ${await statusText(response)}`);
}
/** Deletes an upload the registry started instead of mounting; true when it answered 2xx. */
async function cancelUpload(session, repository, location, refused) {
    try {
        const url = new URL(location, `https://${session.ref.registry}/v2/${repository}/blobs/uploads/`);
        const response = await session.send('DELETE', repository, url.href, 'cancelling an upload', {
            accept: '*/*',
            refused
        });
        await discard(response);
        return response.ok;
    }
    catch {
        // Best effort: the registry purges abandoned uploads; the promotion fails either way.
        return false;
    }
}
/**
 * Puts the exact bytes read under `reference` of `repository`, with the media type they were
 * read as, so the registry stores the same digest; requires 201 and, when the registry names
 * one, that digest.
 */
async function putManifest(session, repository, reference, manifest, refused) {
    const at = reference.startsWith('sha256:') ? '@' : ':';
    const what = `writing manifest ${manifest.digest} to ${session.ref.registry}/${repository}${at}${reference}`;
    const response = await session.send('PUT', repository, `manifests/${reference}`, what, {
        accept: '*/*',
        body: manifest.body,
        contentType: manifest.mediaType,
        refused
    });
    if (response.status !== 201)
        throw session.error(`${what}: ${await statusText(response)}`);
    const stored = response.headers.get('docker-content-digest');
    await discard(response);
    if (stored && stored !== manifest.digest) {
        throw session.error(`${what}: the registry says it stored ${stored}`);
    }
}

;// CONCATENATED MODULE: ./src/registry/promote-step.ts




/**
 * The gate's registry promotion (mode promote, label-source registry): no host, no daemon. The
 * checks are the gate's own (revision against `revision`, then the source label rules), applied
 * by the promotion to every image before it writes anything; the facts are filled as soon as the
 * staging image is read, so a refused push still reports what was read. Returns the verdict:
 * the promotion's failure, or the match with where it was promoted.
 */
async function registryPromotion(settings, deps, facts, revision) {
    const promote = settings.promote;
    if (!promote)
        throw new Error('registryPromotion needs promote settings');
    const label = settings.revisionLabel;
    const check = (labels) => {
        const verdict = decideVerdict(revision, revisionOf(labels, label));
        if (!verdict.pass)
            return verdict;
        return decideSource(labels, settings.repositoryUrl, settings.requireSource);
    };
    const start = deps.now();
    facts.current = 'promote';
    const result = await (deps.promoteRegistry ?? promoteInRegistry)({
        image: settings.image,
        prodImage: promote.prodImage,
        imageDigest: promote.imageDigest ?? '',
        check,
        log: message => deps.log.info(message),
        onStaged: image => {
            facts.imageDigest = image.digest;
            facts.imageId = image.configDigest;
            facts.labels = image.labels;
            facts.imageRevision = revisionOf(image.labels, label);
        }
    }, { ...settings.registry, revisionLabel: label, timeoutMs: settings.timeouts.inspectMs }).finally(() => {
        facts.phases.push({ name: 'promote', ms: deps.now() - start });
    });
    facts.current = '';
    facts.prodImageDigest = result.prodDigest;
    if (result.failed)
        return result.failed;
    facts.prodImageId = facts.imageId;
    const verdict = decideVerdict(revision, facts.imageRevision);
    if (!verdict.pass)
        return verdict;
    return {
        ...verdict,
        reason: `${verdict.reason}, promoted to ${promote.prodImage} as ${shortId(result.prodDigest)}`
    };
}

;// CONCATENATED MODULE: ./src/event-context.ts

const PULL_REQUEST_EVENTS = ['pull_request', 'pull_request_target'];
/** Reads the event name, GITHUB_SHA and (for pull requests) the head SHA from the payload file. */
function readEventContext(env = process.env) {
    const eventName = env.GITHUB_EVENT_NAME ?? '';
    let prHeadSha = '';
    if (PULL_REQUEST_EVENTS.includes(eventName) && env.GITHUB_EVENT_PATH) {
        try {
            const payload = JSON.parse((0,external_node_fs_namespaceObject.readFileSync)(env.GITHUB_EVENT_PATH, 'utf8'));
            const sha = payload.pull_request?.head?.sha;
            prHeadSha = typeof sha === 'string' ? sha : '';
        }
        catch {
            // An unreadable payload only costs the log line; the gate's anchor is HEAD either way.
        }
    }
    return { eventName, sha: env.GITHUB_SHA ?? '', prHeadSha };
}
/** Whether the origin check needs to know if HEAD is a merge commit (it costs one git call). */
function needsMergeCheck(event, head) {
    return (PULL_REQUEST_EVENTS.includes(event.eventName) && !!event.prHeadSha && head !== event.prHeadSha);
}
/**
 * The log line naming every candidate "commit" of this run, and a warning when a pull request's
 * HEAD is GitHub's merge commit: the gate checks HEAD (what was tested), so an image built from
 * the PR head is a mismatch, which surprises people who expect the PR's own commit.
 */
function describeOrigin(event, head, headIsMerge) {
    const line = `event ${event.eventName || '(none)'}: GITHUB_SHA ${event.sha || '(unset)'}, pull request head ${event.prHeadSha || '(none)'}, HEAD ${head}`;
    const warning = needsMergeCheck(event, head) && headIsMerge
        ? `HEAD ${head.slice(0, 12)} is the merge commit GitHub made for this pull request, not its head ${event.prHeadSha.slice(0, 12)}. The gate requires the image to be built from HEAD (what this run tested); a hook that builds the PR head will be reported as a mismatch. Build from GIT_SHA, or check out the head (actions/checkout with ref: \${{ github.event.pull_request.head.sha }}).`
        : '';
    return { line, warning };
}

;// CONCATENATED MODULE: ./src/tail-buffer.ts
/**
 * Keeps the last `limit` bytes of a stream, so a hook that prints megabytes costs bounded memory
 * while the end of its output, where errors usually are, stays available for the verdict.
 */
class TailBuffer {
    limit;
    chunks = [];
    size = 0;
    /** Bytes seen in all, to tell the user how much was dropped. */
    total = 0;
    constructor(limit) {
        this.limit = limit;
    }
    push(chunk) {
        this.total += chunk.length;
        this.chunks.push(chunk);
        this.size += chunk.length;
        while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
            this.size -= this.chunks.shift()?.length ?? 0;
        }
    }
    /** The kept bytes, at most `limit` of them, decoded leniently (invalid UTF-8 becomes U+FFFD). */
    text() {
        const all = Buffer.concat(this.chunks);
        return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
    }
}
/** The last few non-empty lines of some output, folded into one line for a reason or message. */
function lastLines(text, count = 3, width = 200) {
    return text
        .split(/\r\n|\r|\n/)
        .map(line => line.trim())
        .filter(line => line !== '')
        .slice(-count)
        .map(line => (line.length > width ? `${line.slice(0, width)}…` : line))
        .join(' ⏎ ');
}

;// CONCATENATED MODULE: ./src/revision.ts





/**
 * The validated revision: HEAD of the checkout, logged next to the event's own idea of the
 * commit, with a warning when a pull request's HEAD is GitHub's merge commit. `resolved` learns
 * the revision before anything is logged, so a failure while logging still reports it.
 */
async function headRevision(local, settings, event, log, resolved = () => undefined) {
    const revision = await resolveRevision(local, settings);
    resolved(revision);
    log.info(`validated revision: ${revision} (HEAD of ${settings.checkoutPath})`);
    const merge = needsMergeCheck(event, revision)
        ? await isPullRequestMerge(local, settings, event.prHeadSha)
        : false;
    const origin = describeOrigin(event, revision, merge);
    log.info(origin.line);
    if (origin.warning)
        log.warning(origin.warning);
    return revision;
}
/**
 * `git rev-parse --show-toplevel HEAD` of the checkout, as argv with GIT_* cleared: the checkout
 * must be the top of its own work tree (a plain folder inside another repository would give that
 * repository's HEAD), and HEAD a full object name.
 */
async function resolveRevision(local, settings) {
    const { checkoutPath } = settings;
    const seconds = settings.timeouts.gitMs / 1000;
    const what = `git rev-parse HEAD in ${checkoutPath}`;
    const result = await local.git(['-C', checkoutPath, 'rev-parse', '--show-toplevel', 'HEAD'], settings.timeouts.gitMs);
    if (result.timedOut) {
        throw new GateError('timeout', `${what} timed out after ${seconds} s (git-timeout)`);
    }
    if (result.exitCode !== 0) {
        throw new GateError('git-failed', `${what} failed (${exitText(result)}): ${result.spawnError ? `git is not on this runner's PATH (${result.spawnError})` : gitProblem(result.outputTail)}`);
    }
    const [top = '', revision = '', ...extra] = result.stdout.replace(/\n$/, '').split('\n');
    if (!revision.trim()) {
        throw new GateError('empty-revision', `${what} printed no revision`);
    }
    if (!REVISION_PATTERN.test(revision) || extra.length > 0) {
        throw new GateError('git-failed', `${what} printed ${JSON.stringify(revision.slice(0, 80))}, not a 40- or 64-hex revision`);
    }
    if (!samePath(top, checkoutPath)) {
        throw new GateError('git-failed', `path ${checkoutPath} is not the top of a git checkout: it lies inside the work tree ${top}, whose HEAD is not this checkout's. Point path at the checkout itself (actions/checkout's path)`);
    }
    return revision;
}
function samePath(a, b) {
    try {
        return (0,external_node_fs_namespaceObject.realpathSync)(a) === (0,external_node_fs_namespaceObject.realpathSync)(b);
    }
    catch {
        return false;
    }
}
/**
 * Whether HEAD is GitHub's merge commit for the pull request: two or more parents, one of them
 * the PR's head. Read from the commit object's header, so shallow clones work.
 */
async function isPullRequestMerge(local, settings, prHeadSha) {
    const result = await local.git(['-C', settings.checkoutPath, 'cat-file', '-p', 'HEAD'], settings.timeouts.gitMs);
    if (result.exitCode !== 0)
        return false;
    const header = result.stdout.split('\n\n')[0] ?? '';
    const parents = [...header.matchAll(/^parent ([0-9a-f]+)$/gm)].map(match => match[1]);
    return parents.length >= 2 && parents.includes(prHeadSha);
}
/**
 * Git's own complaint (its `fatal:` and `error:` lines) rather than whatever came last, with the
 * plain cause first for the checkout problems a workflow typically has.
 */
function gitProblem(output) {
    const complaints = output.split(/\r?\n/).filter(line => /^(fatal|error):/.test(line));
    const detail = complaints.length
        ? complaints.slice(-3).join(' ')
        : lastLines(output) || 'no output';
    if (/unknown revision|ambiguous argument 'HEAD'|does not have any commits|Needed a single revision/i.test(detail)) {
        return `the repository has no commits yet. ${detail}`;
    }
    if (/cannot change to/i.test(detail))
        return `the checkout path does not exist. ${detail}`;
    if (/not a git repository/i.test(detail))
        return `the checkout path is not a git repository. ${detail}`;
    return detail;
}
/** How a process ended, in words. */
function exitText(result) {
    if (result.spawnError)
        return 'could not start';
    return result.exitCode === null ? 'killed by a signal' : `exit code ${result.exitCode}`;
}

;// CONCATENATED MODULE: ./src/context-check.ts

/**
 * Decides on the build context the host reported: a git work tree must be at the validated
 * revision and clean, or the hook would stamp that revision on other code. A context that is not
 * a git work tree passes only under `auto`, said out loud; anything that keeps the gate from
 * knowing (no git, git refusing a foreign owner, an unreadable answer) fails.
 */
function decideContext(report, expected, check, context, where, when = 'before') {
    const at = `build context ${context} on ${where}`;
    const after = when === 'before'
        ? 'the hook did not run'
        : 'the hook (sync-context) did not leave it at the validated commit, so what it built is not proven';
    const fail = (reason) => ({
        decision: failClosed(`provenance fail-closed: ${reason}; ${after}`, 'stale-context')
    });
    if (!report)
        return fail(`${at} could not be read (the context check gave no answer)`);
    switch (report.kind) {
        case 'no-git':
            return fail(`git is not installed on ${where}, so the build context ${context} cannot be checked; install git there, or use upload-context: true`);
        case 'unsafe':
            return fail(`git on ${where} refuses ${context}: it belongs to another user (safe.directory). Let the ssh user own it, or add it with git config --global --add safe.directory ${context} for that user`);
        case 'timeout':
            return {
                decision: failClosed(`provenance fail-closed: git on ${where} did not answer about ${context} within inspect-timeout; ${after}`, 'timeout')
            };
        case 'failed':
            return fail(`git ${report.what} failed in ${at}`);
        case 'not-a-work-tree':
            if (check === 'require') {
                return fail(`${at} is not a git work tree (check-context: true): nothing proves which commit it holds. Use upload-context: true, or a clone at the validated commit`);
            }
            return {
                note: `build context not verified: ${context} on ${where} is not a git work tree, so the gate trusts the hook to build the validated commit (check-context: true refuses this)`
            };
        case 'tree': {
            if (report.head !== expected) {
                const [head, want] = showPair(report.head, expected);
                return fail(`${at} is at ${head}, not the validated ${want}`);
            }
            if (report.dirty > 0) {
                const first = report.first ? ` (first: ${report.first.slice(0, 200)})` : '';
                return fail(`${at} is dirty: ${report.dirty} files${first}, at ${expected.slice(0, 12)}`);
            }
            return {
                note: `build context ${context} on ${where}: clean work tree at ${expected.slice(0, 12)}`
            };
        }
    }
}

;// CONCATENATED MODULE: ./src/container-json.ts
const HEX64 = /^[0-9a-f]{64}$/;
/** Container names as docker and podman both validate them. */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
function container_json_isObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
/**
 * Go's decoder matches object keys to struct fields without regard to case and keeps the last, so
 * `{"Id": a, "ID": b}` means `b` to a Go program and `a` to an exact lookup. An object whose keys
 * collide ignoring case, or that spells a key we read in another case, is refused: the two readings
 * could disagree.
 */
function unambiguous(object, read) {
    const seen = new Set();
    for (const key of Object.keys(object)) {
        const folded = key.toLowerCase();
        if (seen.has(folded))
            return false;
        seen.add(folded);
        if (read.some(name => name.toLowerCase() === folded && name !== key))
            return false;
    }
    return true;
}
/** `sha256:<hex>` or podman's bare `<hex>`, as `sha256:<hex>`; anything else undefined. */
function imageIdOf(value) {
    if (typeof value !== 'string')
        return undefined;
    const hex = value.startsWith('sha256:') ? value.slice(7) : value;
    return HEX64.test(hex) ? `sha256:${hex}` : undefined;
}
/** Labels as a string map; `null` and absent are none; any other shape undefined. */
function labelsOf(value) {
    if (value === undefined || value === null)
        return {};
    if (!container_json_isObject(value))
        return undefined;
    const entries = Object.entries(value);
    if (!entries.every(([, v]) => typeof v === 'string'))
        return undefined;
    // fromEntries defines own properties, so a `__proto__` label stays a label.
    return Object.fromEntries(entries);
}
function sameLabels(a, b) {
    const keys = Object.keys(a);
    return (keys.length === Object.keys(b).length &&
        keys.every(key => Object.prototype.hasOwnProperty.call(b, key) && a[key] === b[key]));
}
function parseArray(stdout) {
    try {
        const parsed = JSON.parse(stdout);
        return Array.isArray(parsed) ? parsed : undefined;
    }
    catch {
        return undefined;
    }
}
/**
 * Reads the one image `<docker> image inspect -- REF` describes, from docker or podman. Fails
 * closed (undefined) on anything but exactly one well-formed image: a reference that matched two
 * images, none, a non-JSON answer, an id that is not a 64-hex digest, non-string labels, or podman's
 * two label copies disagreeing.
 */
function parseImageInspect(stdout) {
    const images = parseArray(stdout);
    if (!images || images.length !== 1)
        return undefined;
    const [image] = images;
    if (!container_json_isObject(image) || !unambiguous(image, ['Id', 'Config', 'Labels']))
        return undefined;
    const imageId = imageIdOf(image.Id);
    if (!imageId)
        return undefined;
    const config = image.Config;
    if (config !== undefined && config !== null) {
        if (!container_json_isObject(config) || !unambiguous(config, ['Labels']))
            return undefined;
    }
    const labels = labelsOf(container_json_isObject(config) ? config.Labels : undefined);
    if (!labels)
        return undefined;
    if ('Labels' in image) {
        const topLevel = labelsOf(image.Labels);
        if (!topLevel || !sameLabels(labels, topLevel))
            return undefined;
    }
    return { imageId, labels };
}
/**
 * Reads every container `<docker> container inspect -- ID…` describes, from docker or podman: its
 * name (without docker's leading slash), the image id it runs and whether it runs. Fails closed
 * (undefined) when the answer is empty, not JSON, or any element does not look like a container
 * either program prints.
 */
function parseContainerInspect(stdout) {
    const containers = parseArray(stdout);
    if (!containers || containers.length === 0)
        return undefined;
    const states = [];
    for (const container of containers) {
        if (!container_json_isObject(container) || !unambiguous(container, ['Name', 'Image', 'State'])) {
            return undefined;
        }
        const { Name: rawName, State: state } = container;
        if (typeof rawName !== 'string')
            return undefined;
        const name = rawName.startsWith('/') ? rawName.slice(1) : rawName;
        const imageId = imageIdOf(container.Image);
        if (!CONTAINER_NAME.test(name) || !imageId)
            return undefined;
        if (!container_json_isObject(state) || !unambiguous(state, ['Running']))
            return undefined;
        if (typeof state.Running !== 'boolean')
            return undefined;
        states.push({ name, imageId, running: state.Running });
    }
    return states;
}

;// CONCATENATED MODULE: external "node:child_process"
const external_node_child_process_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:child_process");
;// CONCATENATED MODULE: ./src/process.ts


/** Bytes of stdout kept: a session's answers (container inspects run to several KiB each). */
const KEEP_BYTES = 1024 * 1024;
/** Bytes of combined output kept for messages. */
const TAIL_BYTES = 64 * 1024;
/** After SIGTERM a process gets this long before SIGKILL. */
const KILL_GRACE_MS = 3000;
/** After the end line, how long the process may take to exit by itself before it is stopped. */
const END_GRACE_MS = 300;
/** After exit, how long descendants holding the pipes may keep them before we stop reading. */
const PIPE_GRACE_MS = 500;
/**
 * Variables no child may inherit: the inputs (the private key and registry password among them),
 * the runner's tokens, and the file commands, through which a hook could write this step's outputs
 * or the state the post step trusts.
 */
const PRIVATE_VARIABLES = /^(INPUT_.*|ACTIONS_RUNTIME_TOKEN|ACTIONS_ID_TOKEN_REQUEST_TOKEN|ACTIONS_ID_TOKEN_REQUEST_URL|ACTIONS_RUNTIME_URL|ACTIONS_RESULTS_URL|ACTIONS_CACHE_URL|GITHUB_TOKEN|GITHUB_OUTPUT|GITHUB_STATE|GITHUB_ENV|GITHUB_PATH|GITHUB_STEP_SUMMARY|STATE_.*)$/i;
/**
 * The environment every process the gate starts gets: the action's own minus its inputs, tokens
 * and file commands. `withoutGit` also drops every `GIT_*` variable, so a `GIT_DIR` or
 * `GIT_WORK_TREE` in the job cannot move the revision the gate reads.
 */
function childEnvironment(env = process.env, withoutGit = false) {
    const clean = {};
    for (const [name, value] of Object.entries(env)) {
        if (PRIVATE_VARIABLES.test(name))
            continue;
        if (withoutGit && /^GIT_/i.test(name))
            continue;
        clean[name] = value;
    }
    return clean;
}
/**
 * Runs a program with a hard time bound. It runs in its own process group, so on timeout the whole
 * group (the program and everything it started) is stopped: first SIGTERM, then SIGKILL.
 * Never rejects: every way of ending is described in the result.
 */
function runProcess(file, args, options) {
    return new Promise(resolve => {
        const stdout = new TailBuffer(KEEP_BYTES);
        const combined = new TailBuffer(TAIL_BYTES);
        let timedOut = false;
        let ended = false;
        let settled = false;
        let recent = '';
        const timers = [];
        const child = (0,external_node_child_process_namespaceObject.spawn)(file, args, {
            detached: true,
            stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
            env: options.env ?? childEnvironment()
        });
        const finish = (exitCode, spawnError) => {
            if (settled)
                return;
            settled = true;
            timers.forEach(clearTimeout);
            child.stdout?.destroy();
            child.stderr?.destroy();
            child.stdin?.destroy();
            if (typeof options.input === 'object')
                options.input.destroy();
            resolve({
                exitCode,
                timedOut,
                spawnError,
                stdout: stdout.text(),
                ...(stdout.total > KEEP_BYTES ? { stdoutTruncated: true } : {}),
                outputTail: combined.text(),
                ...(ended ? { ended: true } : {})
            });
        };
        const killGroup = (signal) => {
            try {
                if (child.pid !== undefined)
                    process.kill(-child.pid, signal);
            }
            catch {
                // The group is already gone.
            }
        };
        if (child.stdin) {
            // The reader may stop early (a refused session, a finished answer): that is not our error.
            child.stdin.on('error', () => undefined);
            if (typeof options.input === 'string')
                child.stdin.end(options.input);
            else if (options.input)
                options.input.pipe(child.stdin);
        }
        child.stdout?.on('data', (chunk) => {
            stdout.push(chunk);
            combined.push(chunk);
            options.onOutput?.(chunk, 'stdout');
            if (options.endsWith && !ended) {
                recent = (recent + chunk.toString('latin1')).slice(-(options.endsWith.length + 4096));
                if (recent.includes(options.endsWith)) {
                    // The answer is whole. A stray child may hold the pipes open: after a moment for the
                    // last stderr bytes, stop the local end (for ssh, the channel); the exit then reports.
                    ended = true;
                    timers.push(setTimeout(() => killGroup('SIGKILL'), END_GRACE_MS));
                }
            }
        });
        child.stderr?.on('data', (chunk) => {
            combined.push(chunk);
            options.onOutput?.(chunk, 'stderr');
        });
        child.on('error', error => finish(null, error.message));
        child.on('exit', code => {
            clearTimeout(deadline);
            // Whatever the timed-out program left in its group goes now, not after the grace period.
            if (timedOut)
                killGroup('SIGKILL');
            // Wait briefly for the pipes to drain; a descendant left holding them must not hang the gate.
            child.on('close', () => finish(code));
            timers.push(setTimeout(() => finish(code), PIPE_GRACE_MS));
        });
        const deadline = setTimeout(() => {
            timedOut = true;
            killGroup('SIGTERM');
            timers.push(setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS));
        }, options.timeoutMs);
        timers.push(deadline);
    });
}
/** Like runProcess, but stdout is handed to the caller as a stream with backpressure. */
function spawnStream(file, args, options) {
    const stderr = new TailBuffer(TAIL_BYTES);
    let timedOut = false;
    const child = (0,external_node_child_process_namespaceObject.spawn)(file, args, {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: options.env ?? childEnvironment()
    });
    const stop = () => {
        try {
            if (child.pid !== undefined)
                process.kill(-child.pid, 'SIGKILL');
        }
        catch {
            // Already gone.
        }
    };
    const deadline = setTimeout(() => {
        timedOut = true;
        stop();
    }, options.timeoutMs);
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    const done = new Promise(resolve => {
        child.on('error', error => {
            clearTimeout(deadline);
            resolve({ exitCode: null, timedOut, spawnError: error.message, stdout: '', outputTail: '' });
        });
        child.on('close', code => {
            clearTimeout(deadline);
            resolve({ exitCode: code, timedOut, stdout: '', outputTail: stderr.text() });
        });
    });
    return { stdout: child.stdout, done, stop };
}

;// CONCATENATED MODULE: ./src/shell-quote.ts
/**
 * Quotes a value as one POSIX shell word that the shell hands on byte for byte.
 * Single quotes disable every expansion; a single quote itself is closed, escaped and reopened.
 * Every value is quoted, even a plain one, so no character class is ever special-cased.
 * This is the only way values reach a shell command line.
 */
function shellQuote(value) {
    if (value.includes('\0'))
        throw new Error('a shell word cannot hold a NUL byte');
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

;// CONCATENATED MODULE: ./src/session-protocol.ts
/**
 * The remote session's protocol, both halves in one place: the POSIX sh script the gate sends and
 * the parser of what comes back. The script reaches the host on the stdin of a fixed `sh -s`, so
 * the ssh user's login shell (bash, dash, zsh…) only ever sees those two words; it holds the run's
 * nonce, which therefore never appears in any argv. Results travel on the session's stdout, which
 * only the session shell and the container CLI's answers write to: the hook, every step's stderr
 * and every child get other descriptors, and stdin from /dev/null.
 */


/**
 * Seconds the host's `timeout` waits after SIGTERM before it sends SIGKILL, so a step that ignores
 * SIGTERM still ends within a known bound.
 */
const HOST_KILL_AFTER_SECONDS = 10;
const HOST_KILL_AFTER_MS = HOST_KILL_AFTER_SECONDS * 1000;
/** Slack on top of the host's own bounds before the local side gives up on the session. */
const SESSION_MARGIN_MS = 15_000;
/** The command ssh asks the login shell to run: two plain words, the same in every shell. */
const SESSION_COMMAND = 'sh -s';
/**
 * The environment the hook receives, in the order the hook contract documents. The staging target
 * is always explicit so a change of the hook's own defaults can never aim it at prod. The values
 * are shell words (quoted here), because BUILD_CONTEXT of an upload is only known on the host.
 */
function hookEnvironment(settings, revision, uploaded = false) {
    const env = [
        ['GIT_SHA', shellQuote(revision)],
        ['BUILD_CONTEXT', uploaded ? '"$pg_up/ctx"' : shellQuote(settings.buildContext)],
        ['TARGET_IMAGE', shellQuote(settings.image)],
        ['TARGET_SERVICE', shellQuote(settings.staging.service)],
        ['TARGET_PORT', shellQuote(settings.staging.port)],
        ['COMPOSE_PROFILE', shellQuote(settings.staging.composeProfile)],
        ['STAGING_CONTAINER', shellQuote(settings.staging.container)]
    ];
    if (uploaded)
        env.push(['BUILD_CONTEXT_SOURCE', 'git-archive']);
    if (settings.context.sync)
        env.push(['SYNC_CONTEXT', '1']);
    return env;
}
/** The hook as one command line, for the log. */
function describeHookCommand(settings, revision) {
    const uploaded = settings.context.upload;
    const env = hookEnvironment(settings, revision, uploaded)
        .map(([name, value]) => `${name}=${value === '"$pg_up/ctx"' ? '<uploaded>' : value}`)
        .join(' ');
    const run = `${env} ${boundHook(settings)} ${shellQuote(settings.hook)} --build-staging`;
    return settings.hookDir ? `cd ${shellQuote(cdOperand(settings.hookDir))} && ${run}` : run;
}
function boundHook(settings) {
    return `timeout -k ${HOST_KILL_AFTER_SECONDS} ${Math.ceil(settings.timeouts.rebuildMs / 1000)} bash --`;
}
/**
 * `cd`'s operand for hook-dir: a relative directory gets `./`, so a name that starts with a dash
 * (`-P`, `-`, `--help`) is a directory and not an option, and CDPATH cannot redirect it.
 */
function cdOperand(dir) {
    return dir.startsWith('/') || dir.startsWith('./') ? dir : `./${dir}`;
}
/** The host-side bound of one quick call: inspect-timeout, then SIGKILL. */
function bounded(settings) {
    return `timeout -k ${HOST_KILL_AFTER_SECONDS} ${Math.ceil(settings.timeouts.inspectMs / 1000)}`;
}
/** Marker lines start with this and the run's nonce. */
const MARKER_PREFIX = 'provenance-gate-';
/**
 * Shell functions every session starts with. `pg_say` writes one result line on descriptor 3 (the
 * session's stdout); `pg_end` removes what the run made on the host and says `end`, after which the
 * gate stops reading, whatever a stray child may still hold open.
 */
function prelude(ids) {
    return [
        `pg_m=${MARKER_PREFIX}${ids.nonce}`,
        `pg_rec="\${TMPDIR:-/tmp}/provenance-gate-run.${ids.runId}"`,
        "pg_up=''; pg_own=''",
        'pg_say() { printf \'%s %s\\n\' "$pg_m" "$*" >&3; }',
        // Only the session that made the run record removes it.
        'pg_end() { [ -z "$pg_up" ] || rm -rf -- "$pg_up"; [ -z "$pg_own" ] || rm -f -- "$pg_rec"; pg_say end; }',
        // A quick step: its stdout is the answer (on descriptor 3), its stderr is only shown.
        'pg_step() { pg_n=$1; shift; pg_say out "$pg_n"; "$@" >&3 3>&-; pg_rc=$?; pg_say exit "$pg_n" "$pg_rc"; return "$pg_rc"; }',
        // The processes left in a process group, named, then stopped.
        'pg_reap() { pg_l=$(ps -e -o pgid= -o pid= -o args= 2>/dev/null | awk -v g="$1" \'$1 == g { $1 = ""; print substr($0, 2) }\'); [ -z "$pg_l" ] || printf \'%s\\n\' "$pg_l" | while IFS= read -r pg_x; do pg_say left "$pg_x"; done; kill -9 "-$1" 2>/dev/null; }'
    ];
}
/**
 * Wraps the steps in a function whose stdin is /dev/null (the script itself is the shell's stdin,
 * and no step may read it), with the original stdout as descriptor 3 and descriptor 1 sent to
 * stderr. The shell parses the whole function before it runs any of it.
 */
function wrap(ids, defs, body) {
    return [
        ...prelude(ids),
        ...defs,
        'pg_main() {',
        // A leading newline: a login banner printed without one must not glue onto the begin line.
        "printf '\\n' >&3; pg_say begin",
        'timeout --version >/dev/null 2>&1 || { pg_say no-timeout; pg_end; return 0; }',
        ...body,
        'pg_end',
        '}',
        // One line: the shell has read `exit` before the upload reads the rest of stdin (bash reads
        // its script byte by byte, so a separate `exit 0` line would be read as the archive's first
        // frame, and the archive after it run as script).
        'pg_main 3>&1 1>&2 4<&0 </dev/null; exit 0',
        ''
    ].join('\n');
}
/**
 * The context check: git on the host, with every GIT_* variable cleared and a bound, reports the
 * build context's state as lines the gate decides on (`decideContext`).
 */
function contextCheck(settings, revision) {
    const git = `${bounded(settings)} git -C "$pg_ctx"`;
    // Refused unless a clean work tree at the revision, or (auto) not a work tree at all: the host
    // decides before the hook may run, the gate words the same decision from the report.
    const plain = settings.context.check === 'auto' ? 0 : 1;
    return [
        // A subshell: the GIT_* variables it clears stay set for everything else.
        'pg_context() (',
        'for pg_v in $(env | sed -n \'s/^\\(GIT_[A-Za-z0-9_]*\\)=.*/\\1/p\'); do unset "$pg_v"; done',
        'command -v git >/dev/null 2>&1 || { echo no-git; return 1; }',
        `pg_o=$(${git} rev-parse --is-inside-work-tree 2>&1); pg_r=$?`,
        'case "$pg_r" in 124|137) echo timeout; return 1;; esac',
        'case "$pg_o" in *"dubious ownership"*) echo unsafe; return 1;; esac',
        `[ "$pg_r" -eq 0 ] && [ "$pg_o" = true ] || { echo not-a-work-tree; return ${plain}; }`,
        `pg_o=$(${git} rev-parse --show-toplevel) && echo "top $pg_o" || { echo "failed rev-parse --show-toplevel"; return 1; }`,
        `pg_h=$(${git} rev-parse --verify HEAD) && echo "head $pg_h" || { echo "failed rev-parse HEAD"; return 1; }`,
        // Files marked assume-unchanged or skip-worktree hide their edits from status: they count too.
        `pg_o=$(${git} ls-files -v -- . | sed -n 's/^[a-zS] //p') || { echo "failed ls-files"; return 1; }`,
        `pg_s=$(${git} status --porcelain --untracked-files=all --ignore-submodules=none -- .) || { echo "failed status"; return 1; }`,
        "pg_o=$(printf '%s\\n%s' \"$pg_s\" \"$(printf '%s\\n' \"$pg_o\" | sed '/^$/d; s/^/hidden /')\" | sed '/^$/d')",
        '[ -z "$pg_o" ] && echo "dirty 0" || { echo "dirty $(printf \'%s\\n\' "$pg_o" | wc -l)"; printf \'%s\\n\' "$pg_o" | sed -n \'1s/^ */first /p\'; }',
        `[ "$pg_h" = ${shellQuote(revision)} ] && [ -z "$pg_o" ]`,
        ')'
    ];
}
/**
 * The upload: a private directory (mktemp, 0700) under upload-dir or the user's temp dir, then the
 * framed archive from the rest of stdin into it. Only a terminating frame marks it complete, so a
 * transfer cut short between two tar members (which tar would accept) never builds.
 */
function uploadStep(settings) {
    const parent = settings.context.uploadDir
        ? shellQuote(settings.context.uploadDir)
        : '"${TMPDIR:-/tmp}"';
    return [
        'pg_upload() {',
        `pg_up=$(umask 077 && mktemp -d ${parent}/provenance-gate-ctx.XXXXXXXXXX) || { pg_up=''; printf 'cannot create a private directory under %s\\n' ${parent} >&2; return 3; }`,
        'printf \'up %s\\n\' "$pg_up" >> "$pg_rec"',
        'mkdir "$pg_up/ctx" || return 3',
        'echo "dir $pg_up/ctx"',
        '{ while IFS= read -r pg_f <&4; do case "$pg_f" in 0) : > "$pg_up/complete"; break;; ""|*[!0-9]*) break;; *) head -c "$pg_f" <&4 || break;; esac; done; } | tar -x -f - --no-same-owner -C "$pg_up/ctx" >&2',
        'pg_t=$?',
        '[ "$pg_t" -eq 0 ] || return "$pg_t"',
        '[ -f "$pg_up/complete" ] || { echo "the archive arrived incomplete" >&2; return 3; }',
        'rm -f -- "$pg_up/complete"',
        '}'
    ];
}
/**
 * The hook, in its own process group under `timeout`, its output on stderr, its group reaped when
 * it exits. `before` runs after the cd into hook-dir (the context check reads the context as the
 * hook will see it); a failed cd is reported as the hook's exit status, with cd's message shown.
 */
function hookStep(settings, revision, before) {
    const env = hookEnvironment(settings, revision, settings.context.upload)
        .map(([name, value]) => `${name}=${value}`)
        .join(' ');
    return [
        'pg_rc=0',
        ...(settings.hookDir ? [`cd ${shellQuote(cdOperand(settings.hookDir))} || pg_rc=$?`] : []),
        'if [ "$pg_rc" -eq 0 ]; then',
        ...before,
        // A cancellation that came before the hook started: it never starts.
        'if grep -qx cancelled "$pg_rec" 2>/dev/null; then pg_rc=143; echo "the job was cancelled: the hook was not started" >&2; else',
        `${env} ${boundHook(settings)} ${shellQuote(settings.hook)} --build-staging 3>&- 4<&- & pg_pid=$!`,
        // The record lets a cancelled job (or its post step) stop this group on the host.
        'printf \'pg %s\\n\' "$pg_pid" >> "$pg_rec"',
        'wait "$pg_pid"; pg_rc=$?',
        'pg_reap "$pg_pid"',
        'fi',
        'fi',
        'pg_say exit hook "$pg_rc"',
        '[ "$pg_rc" -eq 0 ] || { pg_end; return 0; }'
    ];
}
/** The image's JSON as the container CLI prints it (no Go template: podman's differs). */
function inspectCommand(settings, image) {
    return `${bounded(settings)} ${shellQuote(settings.docker)} image inspect -- ${shellQuote(image)}`;
}
/**
 * The staging containers' JSON. Without an explicit staging-container, the compose service's
 * containers are found by label (v1 names them `<project>_<service>_1`, v2 `<project>-<service>-1`);
 * when there are none, or with an explicit name, the container of exactly that name. Only 64-hex
 * words count as ids; no container prints nothing and succeeds.
 */
function containerCheck(settings) {
    const docker = `${bounded(settings)} ${shellQuote(settings.docker)}`;
    const { container, service, containerNamed } = settings.staging;
    const byLabel = `${docker} ps -aq --no-trunc --filter ${shellQuote(`label=com.docker.compose.service=${service}`)}`;
    const byName = `${docker} ps -a --no-trunc --format '{{.ID}} {{.Names}}'`;
    return [
        'pg_containers() {',
        "pg_ids=''",
        ...(containerNamed ? [] : [`pg_ids=$(${byLabel}) || return $?`]),
        `[ -n "$pg_ids" ] || { pg_ids=$(${byName}) || return $?; pg_ids=$(printf '%s\\n' "$pg_ids" | pg_want=${shellQuote(container)} awk '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == ENVIRON["pg_want"]) print $1 }'); }`,
        'set -f; set --; for pg_w in $pg_ids; do case "$pg_w" in *[!0-9a-f]*) ;; *) [ "${#pg_w}" -eq 64 ] && set -- "$@" "$pg_w";; esac; done; set +f',
        '[ "$#" -gt 0 ] || return 0',
        `${docker} container inspect -- "$@"`,
        '}'
    ];
}
/** A quick step that must succeed before the next one runs. */
function quick(name, command) {
    return `pg_step ${name} ${command} || { pg_end; return 0; }`;
}
/**
 * The one session of a gate run: (rebuild) the context check or the upload, then the hook; then
 * the inspect and the container check. Each reports its exit status; a failed step ends the
 * session. The local bound is the sum of the host's own bounds plus a margin, so the host's fire
 * first and are the ones reported.
 */
function planGateSession(settings, revision, ids) {
    const rebuild = settings.mode === 'rebuild';
    const { context } = settings;
    const defs = [];
    const body = [];
    const steps = [];
    const quickMs = settings.timeouts.inspectMs + HOST_KILL_AFTER_MS;
    let boundMs = SESSION_MARGIN_MS;
    if (rebuild) {
        // The run record: this session's shell, then its upload and the hook's process group.
        body.push('pg_own=1; printf \'sh %s\\n\' "$$" >> "$pg_rec"');
        if (context.upload) {
            defs.push(...uploadStep(settings));
            body.push(quick('upload', 'pg_upload'));
            steps.push('upload');
            boundMs += settings.timeouts.rebuildMs;
        }
        const checked = !context.upload && context.check !== 'skip';
        const check = [
            `pg_ctx=${shellQuote(settings.buildContext || '.')}`,
            quick('context', 'pg_context')
        ];
        if (checked) {
            defs.push(...contextCheck(settings, revision));
            boundMs += 4 * quickMs;
        }
        // A synced context is checked after the hook moved it; any other before the hook may run.
        const before = checked && !context.sync;
        if (before)
            steps.push('context');
        body.push('exec 4<&-', ...hookStep(settings, revision, before ? check : []));
        steps.push('hook');
        boundMs += settings.timeouts.rebuildMs + HOST_KILL_AFTER_MS;
        if (checked && context.sync) {
            body.push(...check);
            steps.push('context');
        }
    }
    else {
        body.push('exec 4<&-');
    }
    if (settings.labelSource === 'host') {
        body.push(quick('inspect', inspectCommand(settings, settings.promote?.imageId || settings.image)));
        steps.push('inspect');
        boundMs += quickMs;
    }
    if (settings.containerCheck !== 'skip') {
        defs.push(...containerCheck(settings));
        body.push(quick('container', 'pg_containers'));
        steps.push('container');
        boundMs += 3 * quickMs;
    }
    return {
        script: wrap(ids, defs, body),
        steps,
        endLine: endLine(ids),
        boundMs,
        upload: rebuild && context.upload
    };
}
/**
 * The promotion's session: `tag <image id> <prod-image>` (by id, never by the mutable staging
 * tag, so what was verified is what gets the prod tag), then the prod image read back.
 */
function planPromoteSession(settings, imageId, prodImage, ids) {
    const docker = `${bounded(settings)} ${shellQuote(settings.docker)}`;
    return {
        script: wrap(ids, [], [
            'exec 4<&-',
            quick('tag', `${docker} tag ${shellQuote(imageId)} ${shellQuote(prodImage)}`),
            quick('prod', inspectCommand(settings, prodImage))
        ]),
        steps: ['tag', 'prod'],
        endLine: endLine(ids),
        boundMs: 2 * (settings.timeouts.inspectMs + HOST_KILL_AFTER_MS) + SESSION_MARGIN_MS,
        upload: false
    };
}
/**
 * What a cancelled run sends (from the main step on SIGTERM/SIGINT, or from the post step after a
 * SIGKILL): the run record names the hook's process group and the upload directory; the group is
 * named, stopped (TERM, then KILL) and the directory removed. Only a directory named like the
 * gate's own is removed, whatever the record says.
 */
function planCancelSession(ids) {
    return {
        script: wrap(ids, [], [
            'exec 4<&-',
            '[ -f "$pg_rec" ] || { pg_say none; pg_end; return 0; }',
            // A session that has not started its hook yet sees this and never starts it.
            'echo cancelled >> "$pg_rec"',
            // A session still running removes its own record as it ends; else this one does.
            'pg_s=$(sed -n \'s/^sh \\([0-9][0-9]*\\)$/\\1/p\' "$pg_rec" | head -n 1); [ -n "$pg_s" ] && kill -0 "$pg_s" 2>/dev/null || pg_own=1',
            // Read the record whole first: the stopped session removes it (and the upload) as it ends.
            'pg_d=$(sed -n \'s/^up \\(.*provenance-gate-ctx\\.[A-Za-z0-9]*\\)$/\\1/p\' "$pg_rec" | head -n 1)',
            'pg_gs=$(sed -n \'s/^pg \\([0-9][0-9]*\\)$/\\1/p\' "$pg_rec"); pg_had=\'\'; [ -z "$pg_d" ] || [ ! -d "$pg_d" ] || pg_had=1',
            'for pg_g in $pg_gs; do kill -TERM "-$pg_g" 2>/dev/null && { sleep 1; pg_reap "$pg_g"; pg_say stopped "$pg_g"; }; done',
            '[ -z "$pg_had" ] || { rm -rf -- "$pg_d"; pg_say removed "$pg_d"; }'
        ]),
        steps: [],
        endLine: endLine(ids),
        boundMs: 20_000,
        upload: false
    };
}
function endLine(ids) {
    return `\n${MARKER_PREFIX}${ids.nonce} end\n`;
}
/**
 * Reads a session's stdout. Only lines after this run's begin line count (a login shell's chatter
 * comes before it); a step's output is what came between its `out` and `exit` lines; a step
 * reports once.
 */
function parseSession(stdout, nonce) {
    const mark = `${MARKER_PREFIX}${nonce} `;
    const answer = {
        begun: false,
        ended: false,
        noTimeout: false,
        steps: {},
        left: [],
        stopped: [],
        removed: []
    };
    let open;
    for (const line of stdout.split('\n')) {
        if (!answer.begun) {
            answer.begun = line === `${mark}begin`;
            continue;
        }
        if (answer.ended)
            break;
        if (!line.startsWith(mark)) {
            open?.lines.push(line);
            continue;
        }
        const [word = '', ...rest] = line.slice(mark.length).split(' ');
        const arg = rest.join(' ');
        if (word === 'end')
            answer.ended = true;
        else if (word === 'no-timeout')
            answer.noTimeout = true;
        else if (word === 'left')
            answer.left.push(arg);
        else if (word === 'stopped')
            answer.stopped.push(arg);
        else if (word === 'removed')
            answer.removed.push(arg);
        else if (word === 'out' && isStep(arg))
            open = { name: arg, lines: [] };
        else if (word === 'exit') {
            const [name = '', code = ''] = rest;
            if (!isStep(name) || !/^[0-9]+$/.test(code) || answer.steps[name])
                continue;
            const output = open?.name === name ? open.lines.join('\n').replace(/\n+$/, '') : '';
            answer.steps[name] = { exit: Number(code), output };
            open = undefined;
        }
    }
    return answer;
}
const STEPS = [
    'context',
    'upload',
    'hook',
    'inspect',
    'container',
    'tag',
    'prod'
];
function isStep(name) {
    return STEPS.includes(name);
}
/** Parses the context step's lines; `undefined` for anything the script would not print. */
function parseContextReport(output) {
    const lines = output.split('\n').filter(line => line !== '');
    const [first = ''] = lines;
    if (first === 'no-git' ||
        first === 'not-a-work-tree' ||
        first === 'unsafe' ||
        first === 'timeout') {
        return lines.length === 1 ? { kind: first } : undefined;
    }
    const failed = lines.find(line => line.startsWith('failed '));
    if (failed)
        return { kind: 'failed', what: failed.slice(7) };
    // Each key once: a path with a line break (a top-level directory named "x\nhead <sha>") must
    // not add a second, forged line.
    const value = (key) => {
        const found = lines.filter(line => line.startsWith(`${key} `));
        return found.length === 1 ? found[0]?.slice(key.length + 1) : undefined;
    };
    if (lines.filter(line => line.startsWith('first ')).length > 1)
        return undefined;
    const top = value('top');
    const head = value('head');
    const dirty = value('dirty');
    if (top === undefined ||
        head === undefined ||
        dirty === undefined ||
        !/^[0-9]+$/.test(dirty.trim())) {
        return undefined;
    }
    return { kind: 'tree', top, head, dirty: Number(dirty.trim()), first: value('first') ?? '' };
}
/**
 * Frame size of the upload: the host runs one `head -c` per frame, so bigger frames cost fewer
 * processes there (measured: 4 MiB frames ship 50 MB ~25 ms faster than 1 MiB ones), and one
 * frame is what the action holds.
 */
const FRAME_BYTES = 4 * 1024 * 1024;
/**
 * Frames an archive for the upload step: `<length>\n<bytes>` frames of about 4 MiB, then `0\n`
 * once the archive ended well. Memory stays at one frame whatever the archive's size; the
 * terminator is only written by `end()`, so a stream cut short is never taken as complete.
 */
class ArchiveFramer extends external_node_stream_namespaceObject.Transform {
    pending = [];
    size = 0;
    /** Bytes of archive seen so far. */
    bytes = 0;
    _transform(chunk, _encoding, done) {
        this.bytes += chunk.length;
        this.pending.push(chunk);
        this.size += chunk.length;
        if (this.size >= FRAME_BYTES)
            this.flushFrame();
        done();
    }
    _flush(done) {
        this.flushFrame();
        this.push('0\n');
        done();
    }
    flushFrame() {
        if (this.size === 0)
            return;
        this.push(`${this.size}\n`);
        // The chunks as they came: no copy into one buffer.
        for (const chunk of this.pending)
            this.push(chunk);
        this.pending = [];
        this.size = 0;
    }
}

;// CONCATENATED MODULE: ./src/upload.ts




/** A progress line at least this often while the archive is sent. */
const PROGRESS_MS = 5000;
/**
 * Refuses, before anything runs on the host, a commit whose `git archive` would not be its tree:
 * submodules (the archive leaves them empty) and `export-ignore`/`export-subst` attributes (the
 * archive drops or rewrites files). Either way the image would not hold HEAD's tree.
 */
async function checkArchivable(local, settings, revision) {
    const git = (args) => local.git(['-C', settings.checkoutPath, ...args], settings.timeouts.gitMs);
    const gitlinks = await git(['ls-tree', '-r', '-d', '--full-tree', '-z', revision]);
    if (gitlinks.exitCode !== 0 || gitlinks.stdoutTruncated) {
        throw new GateError('git-failed', `git ls-tree ${revision} in ${settings.checkoutPath} failed: ${lastLines(gitlinks.outputTail) || gitlinks.spawnError || 'no output'}`);
    }
    const submodule = gitlinks.stdout.split('\0').find(entry => entry.startsWith('160000 '));
    if (submodule) {
        throw new InputError(`upload-context does not ship submodules, and ${submodule.split('\t')[1] ?? 'one'} is a submodule of ${revision.slice(0, 12)}: git archive would leave it empty. Build from a clone on the host instead (sync-context)`);
    }
    const attributes = await git([
        'grep', '-l', '-I', '-E', 'export-(ignore|subst)', revision, '--',
        '.gitattributes', ':(glob)**/.gitattributes'
    ]); // prettier-ignore
    if (attributes.exitCode === 0) {
        const file = attributes.stdout.split('\n')[0]?.replace(`${revision}:`, '') ?? '.gitattributes';
        throw new InputError(`upload-context cannot ship ${revision.slice(0, 12)} as it is: ${file} uses export-ignore or export-subst, so git archive would drop or rewrite files. Remove those attributes, or build from a clone on the host (sync-context)`);
    }
}
/**
 * Streams `git archive` of the revision behind the session's script, framed for the upload step,
 * never holding more than one frame. Only an archive that git finished without error and that
 * stayed under the size bound gets the terminating frame; otherwise the host sees an incomplete
 * upload and never runs the hook.
 */
function startUpload(local, settings, revision, script, progress, now) {
    const max = settings.context.uploadMaxBytes;
    const input = new external_node_stream_namespaceObject.PassThrough();
    const framer = new ArchiveFramer();
    const since = now();
    let error;
    input.write(script);
    const archive = local.gitStream(['-C', settings.checkoutPath, 'archive', '--format=tar', revision], settings.timeouts.rebuildMs);
    const abort = (reason) => {
        error ??= reason;
        archive.stop();
        archive.stdout.unpipe(framer);
        framer.unpipe(input);
        input.end();
    };
    // Counted here, as each chunk arrives: the framer counts a chunk only once it takes it, so a
    // last chunk that crosses the bound would pass unseen.
    let received = 0;
    archive.stdout.on('data', (chunk) => {
        received += chunk.length;
        if (received > max && !error) {
            abort(new InputError(`the archive of ${revision.slice(0, 12)} exceeds upload-max-mib (${max / 1024 / 1024} MiB); nothing was built. Raise upload-max-mib or shrink the tree`));
        }
    });
    archive.stdout.pipe(framer, { end: false });
    const timer = setInterval(() => {
        progress(`upload: ${(framer.bytes / 1024 / 1024).toFixed(1)} MiB sent in ${((now() - since) / 1000).toFixed(0)} s`);
    }, PROGRESS_MS);
    const ended = archive.done.then(result => {
        clearInterval(timer);
        if (error)
            return;
        if (result.exitCode === 0 && !result.timedOut) {
            framer.end();
            return;
        }
        abort(new GateError(result.timedOut ? 'timeout' : 'git-failed', `git archive ${revision.slice(0, 12)} in ${settings.checkoutPath} ${result.timedOut ? 'timed out' : 'failed'}: ${result.spawnError ?? (lastLines(result.outputTail) || `exit ${result.exitCode}`)}; nothing was built`));
    });
    let started = false;
    return {
        input,
        start: () => {
            if (started || error)
                return;
            started = true;
            framer.pipe(input);
        },
        finish: async () => {
            // The session is over: whatever is still being read is of no use now.
            archive.stop();
            await ended;
            clearInterval(timer);
            return { bytes: framer.bytes, ...(error ? { error } : {}) };
        }
    };
}

;// CONCATENATED MODULE: ./src/run-session.ts








/** The phase each step's time is counted in. */
const STEP_PHASE = {
    upload: 'upload',
    context: 'context',
    hook: 'hook',
    inspect: 'inspect',
    container: 'inspect',
    tag: 'promote',
    prod: 'promote'
};
/**
 * Runs a planned session and returns its parsed answer, timing each step as its exit line
 * arrives. Everything the host prints outside the answer (hook output, step stderr) is shown live
 * in one log group and kept only as a tail for messages; none of it is parsed.
 */
async function runPlanned(runner, plan, nonce, deps, facts, options) {
    const { log, now } = deps;
    const mark = `provenance-gate-${nonce} exit `;
    const begin = `provenance-gate-${nonce} begin\n`;
    const tail = new TailBuffer(64 * 1024);
    let phaseStart = now();
    const steps = [...plan.steps];
    facts.current = steps[0] ? STEP_PHASE[steps[0]] : facts.current;
    let seen = '';
    const stepDone = (name) => {
        const phase = STEP_PHASE[name];
        const next = steps[steps.indexOf(name) + 1];
        if (next && STEP_PHASE[next] === phase)
            return;
        const at = now();
        facts.phases.push({ name: phase, ms: at - phaseStart });
        phaseStart = at;
        if (next)
            facts.current = STEP_PHASE[next];
    };
    const write = log.openRaw(options.title);
    let result;
    facts.sessionOpen = true;
    try {
        result = await runner.session(options.input?.input ?? plan.script, {
            timeoutMs: plan.boundMs,
            endsWith: plan.endLine,
            onOutput: (chunk, stream) => {
                if (stream === 'stderr') {
                    tail.push(chunk);
                    write(chunk);
                    return;
                }
                seen = (seen + chunk.toString('latin1')).slice(-KEEP_BYTES);
                if (seen.includes(begin))
                    options.input?.start();
                for (;;) {
                    const at = seen.indexOf(mark);
                    const eol = at < 0 ? -1 : seen.indexOf('\n', at);
                    if (eol < 0)
                        break;
                    const name = seen.slice(at + mark.length, eol).split(' ')[0];
                    seen = seen.slice(eol);
                    if (steps.includes(name))
                        stepDone(name);
                }
            }
        });
    }
    finally {
        log.closeRaw();
    }
    const answer = parseSession(result.stdout, nonce);
    if (answer.ended)
        facts.sessionOpen = false;
    return { result, answer, tail: tail.text() };
}
/**
 * The gate's one session: (rebuild) the upload or the context check, the hook; then the inspect
 * and the container check. Turns what the host reported into facts, a failed context decision, or
 * a GateError that names the step and the cause.
 */
async function runGateSession(runner, settings, revision, deps, facts) {
    const { log } = deps;
    const rebuild = settings.mode === 'rebuild';
    const nonce = deps.nonce();
    const plan = planGateSession(settings, revision, { nonce, runId: deps.runId });
    const where = runner.where;
    let upload;
    if (plan.upload) {
        await checkArchivable(deps.local, settings, revision);
        log.info(`uploading git archive ${revision.slice(0, 12)} of ${settings.checkoutPath} to ${where}`);
        upload = startUpload(deps.local, settings, revision, plan.script, line => log.info(line), deps.now);
    }
    if (rebuild && !settings.context.upload && settings.context.check === 'skip') {
        log.warning('check-context is false: the gate does not check that the build context holds the validated commit, so a stale or dirty context would pass. Use check-context: auto, or upload-context: true');
    }
    if (rebuild)
        log.info(`running the hook on ${where}: ${describeHookCommand(settings, revision)}`);
    const title = rebuild ? `hook output (${settings.hook} --build-staging)` : `output on ${where}`;
    const run = await runPlanned(runner, plan, nonce, deps, facts, {
        title,
        ...(upload ? { input: upload } : {})
    });
    const outcome = upload ? await upload.finish() : undefined;
    if (outcome?.error)
        throw outcome.error;
    const { result, answer, tail } = run;
    checkStarted(answer, result, where, tail, rebuild ? 'hook-failed' : 'inspect-failed');
    const found = {};
    const step = (name) => answer.steps[name];
    for (const name of plan.steps) {
        const reported = step(name);
        if (name === 'upload') {
            if (!reported)
                throw missing('the upload', result, settings, where, tail);
            if (reported.exit !== 0) {
                throw new GateError('transport', `the upload to ${where} failed (exit code ${reported.exit}): ${lastLines(tail) || 'no output'}; nothing was built`);
            }
            const dir = /^dir (.*)$/m.exec(reported.output)?.[1] ?? '?';
            found.contextNote = `build context uploaded: git archive of ${revision.slice(0, 12)} (${formatBytes(outcome?.bytes ?? 0)}) into a fresh ${dir} on ${where}, removed after the run`;
            log.info(found.contextNote);
        }
        else if (name === 'context') {
            // A failed cd into hook-dir ends the session before the check: the hook's report says so.
            if (!reported && step('hook'))
                continue;
            if (!reported)
                throw missing('the build context check', result, settings, where, tail);
            const context = settings.buildContext || settings.hookDir || "(the ssh user's login directory)";
            const decided = decideContext(parseContextReport(reported.output), revision, settings.context.check, context, where, settings.context.sync ? 'after' : 'before');
            if (decided.decision)
                return { ...found, decision: decided.decision };
            if (reported.exit !== 0) {
                // The host refused what the report does not explain: never a pass.
                throw new GateError('stale-context', `the build context check on ${where} refused ${context} (exit code ${reported.exit}): ${lastLines(tail) || 'no output'}`);
            }
            found.contextNote = decided.note;
            log.info(decided.note);
        }
        else if (name === 'hook') {
            // The hook reported, so it ran (whatever its exit): the output says so.
            if (reported)
                facts.rebuilt = 'true';
            checkHook(reported?.exit, result, settings, where, facts, tail);
            if (answer.left.length) {
                log.warning(`the hook left ${answer.left.length} process${answer.left.length === 1 ? '' : 'es'} running on ${where}, stopped now: ${answer.left.map(line => line.slice(0, 120)).join('; ')}`);
            }
        }
        else if (name === 'inspect') {
            const image = settings.promote?.imageId || settings.image;
            found.inspected = readInspect(reported, result, settings, where, tail, image);
        }
        else if (name === 'container') {
            found.container = readContainers(reported, result, settings, where, tail);
        }
    }
    return found;
}
/** A session that never started its script, or found no GNU timeout, ran nothing. */
function checkStarted(answer, result, where, tail, failure) {
    if (result.spawnError) {
        throw new GateError('transport', `cannot run commands on ${where}: ${result.spawnError}`);
    }
    if (result.stdoutTruncated) {
        throw new GateError('inspect-failed', `the answer from ${where} exceeded ${KEEP_BYTES / 1024} KiB (the image's labels or the container list are too large to read whole); nothing of it was trusted`);
    }
    if (!answer.begun) {
        if (result.timedOut) {
            throw new GateError('timeout', `the session on ${where} did not start in time; it was stopped`);
        }
        if (result.exitCode === 255) {
            throw new GateError('transport', `ssh connection to ${where} was lost before the session started (${lastLines(tail, 1) || 'exit 255'})`);
        }
        throw new GateError(failure, `the session on ${where} did not start (\`sh -s\` ${exitText(result)}): ${lastLines(tail) || 'no output'}. The host must run \`sh -s\` for the ssh user (a forced command must allow it)`);
    }
    if (answer.noTimeout) {
        throw new GateError(failure, `${where} has no GNU \`timeout\` (coreutils); the gate needs it to bound its commands on the host and stop the hook's whole process group. Nothing was run`);
    }
}
/** Exit statuses of `timeout` when it stopped the command: TERM worked, or KILL was needed. */
const TIMEOUT_EXITS = [124, 137];
/** Why a step never reported: a timeout on either side, a lost connection, or an early end. */
function missing(what, result, settings, where, tail, command = what) {
    if (result.timedOut) {
        return new GateError('timeout', `${command} on ${where} did not answer within ${settings.timeouts.inspectMs / 1000} s (inspect-timeout); the session was stopped`);
    }
    if (result.exitCode === 255) {
        return new GateError('transport', `ssh connection to ${where} was lost during ${what} (${lastLines(tail, 1) || 'exit 255'})`);
    }
    return new GateError('inspect-failed', `${command} on ${where} ended without reporting a result (${exitText(result)}): ${lastLines(tail) || 'no output'}`);
}
/** Throws unless the hook reported exit 0; tells a host-side timeout from a lost connection. */
function checkHook(hookExit, result, settings, where, facts, tail) {
    const bound = `${settings.timeouts.rebuildMs / 1000} s (rebuild-timeout)`;
    const output = lastLines(tail) || 'no output';
    const hookMs = facts.phases.find(phase => phase.name === 'hook')?.ms ?? 0;
    if (hookExit === undefined) {
        if (result.timedOut) {
            throw new GateError('timeout', `hook on ${where} did not finish within ${bound} and its host-side bound did not answer either; the session was stopped`);
        }
        if (result.exitCode === 255) {
            throw new GateError('transport', `ssh connection to ${where} was lost while the hook was running (${lastLines(tail, 1) || 'exit 255'}); not retried, because the hook had started. Its host-side bound stops it after ${bound}`);
        }
        throw new GateError('hook-failed', `hook on ${where} ended without reporting a result (${exitText(result)}): ${output}`);
    }
    if (hookExit === 0)
        return;
    if (TIMEOUT_EXITS.includes(hookExit) && hookMs >= settings.timeouts.rebuildMs) {
        throw new GateError('timeout', `hook timed out after ${bound} on ${where}; the host stopped it and its process group (SIGTERM, SIGKILL). Last output: ${output}`);
    }
    throw new GateError('hook-failed', `hook failed (exit code ${hookExit}) on ${where}: ${output}`);
}
/**
 * Throws unless a quick step (inspect, container check, tag) reported exit 0: a timeout on the
 * host, a missing report, or the step's own failure with a hint from its shown stderr.
 */
function checkQuick(label, what, reported, result, settings, where, tail, image) {
    if (!reported)
        throw missing(`the ${label}`, result, settings, where, tail, what);
    if (reported.exit === 0)
        return reported;
    const bound = `${settings.timeouts.inspectMs / 1000} s (inspect-timeout)`;
    if (TIMEOUT_EXITS.includes(reported.exit)) {
        throw new GateError('timeout', `${what} on ${where} timed out after ${bound}; the host stopped it`);
    }
    const output = lastLines(tail) || 'no output';
    throw new GateError('inspect-failed', `${what} on ${where} failed (exit code ${reported.exit}): ${inspectHint(reported.exit, tail, settings, image)}${output}`);
}
/** The usual causes of a failed docker call, said in words before docker's own. */
function inspectHint(exit, output, settings, image) {
    if (exit === 127) {
        return `${settings.docker} is not on the host's PATH (set the docker input to its path). `;
    }
    if (/Cannot connect to the Docker daemon|Is the docker daemon running|connect: no such file/i.test(output)) {
        return 'the container engine on the host is not running or not reachable. ';
    }
    if (/No such image|image not known|not found/i.test(output)) {
        return `the image ${image} does not exist on the host. `;
    }
    return '';
}
/** The inspected image, or a GateError that says what the host answered. */
function readInspect(reported, result, settings, where, tail, image) {
    const what = `${settings.docker} image inspect ${image}`;
    const step = checkQuick('inspect', what, reported, result, settings, where, tail, image);
    const parsed = parseImageInspect(step.output);
    if (!parsed) {
        throw new GateError('inspect-failed', `${what} on ${where} answered ${JSON.stringify(lastLines(step.output, 1, 120))}, not one image's JSON with an id`);
    }
    return parsed;
}
/** The staging containers, none, or a GateError that says what the host answered. */
function readContainers(reported, result, settings, where, tail) {
    const what = `the container check (${settings.staging.container})`;
    const step = checkQuick('container check', what, reported, result, settings, where, tail, settings.image);
    if (step.output.trim() === '')
        return { exists: false };
    const containers = parseContainerInspect(step.output);
    if (!containers) {
        throw new GateError('inspect-failed', `${what} on ${where} answered ${JSON.stringify(lastLines(step.output, 1, 120))}, not the containers' JSON`);
    }
    return { exists: true, containers };
}
function formatBytes(bytes) {
    return bytes >= 1024 * 1024
        ? `${(bytes / 1024 / 1024).toFixed(1)} MiB`
        : `${(bytes / 1024).toFixed(1)} KiB`;
}

;// CONCATENATED MODULE: ./src/gate.ts








/** A fresh, empty set of facts. */
function emptyFacts() {
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
    };
}
/** Backoff before connection attempt `attempt + 2`: 1 s, 2 s, 4 s, then 8 s each. */
function retryDelayMs(attempt) {
    return Math.min(1000 * 2 ** attempt, 8000);
}
/**
 * The gate itself: validated revision, then one remote session (the build context proven or
 * uploaded, the hook in rebuild mode, then the inspect), then the verdict. Expected failures
 * throw a GateError naming the cause; `facts` keeps what was known.
 */
async function runGate(settings, deps, facts) {
    const timed = async (name, work) => {
        const start = deps.now();
        facts.current = name;
        try {
            return await work();
        }
        finally {
            facts.phases.push({ name, ms: deps.now() - start });
        }
    };
    // Registry labels in verify mode need nothing on the host: no connection at all.
    const needsHost = settings.mode === 'rebuild' || settings.labelSource === 'host';
    const { ssh } = settings;
    // The connection (key check, handshake) is opened while git answers: nothing runs on the host
    // before the revision is known, and a failed git closes the connection unused.
    const connecting = needsHost && ssh ? timed('connect', () => connect(deps, ssh)) : undefined;
    connecting?.catch(() => undefined);
    let revision;
    try {
        revision =
            settings.promote?.expectedRevision ||
                (await timed('git', () => headRevision(deps.local, settings, deps.event, deps.log, resolved => {
                    facts.expectedRevision = resolved;
                })));
    }
    catch (error) {
        const unused = await connecting?.catch(() => undefined);
        await unused?.close().catch(() => undefined);
        throw error;
    }
    facts.expectedRevision = revision;
    let runner;
    try {
        if (needsHost) {
            facts.current = 'connect';
            runner = connecting ? await connecting : deps.local;
        }
        deps.onRunner?.(runner);
        if (runner && settings.skipIfFresh) {
            const fresh = await probeFresh(runner, settings, revision, deps, facts);
            if (fresh)
                return fresh;
        }
        const session = runner ? await runGateSession(runner, settings, revision, deps, facts) : {};
        facts.contextNote = session.contextNote ?? '';
        if (session.decision)
            return session.decision;
        // Registry promotion: no host was opened; read, check and write in the registry only.
        if (settings.promote && settings.labelSource === 'registry') {
            return await registryPromotion(settings, deps, facts, revision);
        }
        if (settings.labelSource === 'registry') {
            const image = await timed('registry', () => deps.readRegistry(settings.image, {
                ...settings.registry,
                revisionLabel: settings.revisionLabel,
                timeoutMs: settings.timeouts.inspectMs
            }));
            facts.imageId = image.configDigest;
            facts.imageDigest = image.digest;
            facts.labels = image.labels;
            deps.log.info(`registry: ${settings.image} is ${image.digest} (${settings.registry.platform}: manifest ${image.manifestDigest}, config ${image.configDigest})`);
        }
        else if (session.inspected) {
            facts.imageId = session.inspected.imageId;
            facts.labels = session.inspected.labels;
        }
        facts.imageRevision = revisionOf(facts.labels, settings.revisionLabel);
        deps.log.info(`image ${settings.promote?.imageId || settings.image}: id ${facts.imageId}, ${settings.revisionLabel}=${facts.imageRevision ? JSON.stringify(facts.imageRevision) : '(none)'}`);
        facts.current = '';
        return await decide(settings, deps, facts, revision, session.container, runner);
    }
    finally {
        deps.onRunner?.(undefined);
        // Cleanup trouble must not replace the verdict; the post step retries what is left.
        await runner?.close().catch((error) => {
            deps.log.warning(`could not close the connection cleanly: ${describeError(error)}`);
        });
    }
}
/**
 * skip-if-fresh: one read-only session (the inspect and the container check, as in verify mode)
 * before any rebuild. When the image already carries the validated revision, names the right
 * source and every running staging container runs it, the hook is skipped and that is the pass;
 * otherwise nothing of the probe is kept and the gate rebuilds as usual.
 */
async function probeFresh(runner, settings, revision, deps, facts) {
    const before = facts.phases.length;
    let probe;
    try {
        probe = await runGateSession(runner, { ...settings, mode: 'verify' }, revision, deps, facts);
    }
    catch (error) {
        // A session that ended answered: no image to trust there (none yet, on a first deploy) is
        // not fresh. No answer (a lost connection, a timeout) stays a failure, as in verify mode.
        if (!(error instanceof GateError) || error.failure !== 'inspect-failed' || facts.sessionOpen) {
            throw error;
        }
        deps.log.info(`skip-if-fresh: not fresh (${error.message}); rebuilding`);
        return undefined;
    }
    finally {
        for (const phase of facts.phases.slice(before))
            phase.name = 'probe';
    }
    const labels = probe.inspected?.labels ?? {};
    const imageRevision = revisionOf(labels, settings.revisionLabel);
    const imageId = probe.inspected?.imageId ?? '';
    const stale = decideVerdict(revision, imageRevision).pass
        ? (decideSource(labels, settings.repositoryUrl, settings.requireSource) ??
            decideContainer(probe.container, imageId, settings.containerCheck, settings.staging.container))
        : failClosed(`the image carries ${JSON.stringify(imageRevision)}`, 'mismatch');
    if (stale) {
        deps.log.info(`skip-if-fresh: not fresh (${stale.reason}); rebuilding`);
        return undefined;
    }
    Object.assign(facts, { imageId, labels, imageRevision, rebuilt: 'false', current: '' });
    facts.contextNote = 'not consulted: nothing was built (skip-if-fresh)';
    deps.log.info(`skip-if-fresh: ${settings.image} (${shortId(imageId)}) already carries ${revision.slice(0, 12)} and the staging containers run it: the hook was skipped, so its build, health check and smoke test did not run now`);
    const verdict = decideVerdict(revision, imageRevision);
    return {
        ...verdict,
        reason: `${verdict.reason} (already built and running; hook skipped: skip-if-fresh)`
    };
}
/** The checks on what was read, in order, then (promote mode) the promotion. */
async function decide(settings, deps, facts, revision, container, runner) {
    const verdict = decideVerdict(revision, facts.imageRevision);
    if (!verdict.pass)
        return verdict;
    const source = decideSource(facts.labels, settings.repositoryUrl, settings.requireSource);
    if (source)
        return source;
    if (container && !container.exists) {
        deps.log.info(`no container ${settings.staging.container} on the host: nothing runs, nothing to compare`);
    }
    const stale = decideContainer(container, facts.imageId, settings.containerCheck, settings.staging.container);
    if (stale)
        return stale;
    if (!settings.promote || !runner)
        return verdict;
    const { prodImage } = settings.promote;
    const start = deps.now();
    facts.current = 'promote';
    const promoted = await promote(runner, settings, revision, deps, facts).finally(() => {
        facts.phases.push({ name: 'promote', ms: deps.now() - start });
    });
    facts.current = '';
    if (promoted)
        return promoted;
    return {
        ...verdict,
        reason: `${verdict.reason}, promoted to ${prodImage} as ${shortId(facts.imageId)}`
    };
}
/**
 * The promotion, after the staging image passed: tag it by id to prod-image, read prod-image back
 * and require the same id and revision. Returns a failed decision, or `undefined` when promoted.
 */
async function promote(runner, settings, revision, deps, facts) {
    if (!settings.promote)
        return undefined;
    const { prodImage } = settings.promote;
    const where = runner.where;
    const nonce = deps.nonce();
    const plan = planPromoteSession(settings, facts.imageId, prodImage, { nonce, runId: deps.runId });
    deps.log.info(`promoting ${facts.imageId} to ${prodImage} on ${where}`);
    const phases = facts.phases.length;
    const { result, answer, tail } = await runPlanned(runner, plan, nonce, deps, facts, {
        title: `output on ${where} (tag)`
    });
    facts.phases.splice(phases);
    checkStarted(answer, result, where, tail, 'inspect-failed');
    checkQuick('tag', `${settings.docker} tag ${facts.imageId} ${prodImage}`, answer.steps.tag, result, settings, where, tail, facts.imageId);
    const prod = readInspect(answer.steps.prod, result, settings, where, tail, prodImage);
    facts.prodImageId = prod.imageId;
    if (prod.imageId !== facts.imageId) {
        const [got, want] = showPair(prod.imageId, facts.imageId, shortId);
        return failClosed(`provenance fail-closed: after docker tag, ${prodImage} has id ${got}, not the verified ${want}: something else wrote the tag at the same time`, 'mismatch');
    }
    const prodRevision = revisionOf(prod.labels, settings.revisionLabel);
    if (prodRevision !== revision) {
        return failClosed(`provenance fail-closed: after docker tag, ${prodImage} carries revision ${JSON.stringify(prodRevision)}, not ${revision}`, 'mismatch');
    }
    return undefined;
}
/**
 * Opens the ssh connection, trying again with backoff only when the failure is one that happened
 * before anything ran on the host (see GateError.retryable).
 */
async function connect(deps, target) {
    for (let attempt = 0;; attempt++) {
        try {
            return await deps.openSsh(target);
        }
        catch (error) {
            if (!(error instanceof GateError) || !error.retryable)
                throw error;
            if (attempt >= target.retries) {
                const tries = attempt + 1;
                throw new GateError(error.failure, `${error.message} (${tries} attempt${tries === 1 ? '' : 's'}, ssh-retries ${target.retries})`);
            }
            const delay = retryDelayMs(attempt);
            deps.log.info(`${error.message}; nothing ran on the host, retrying in ${delay / 1000} s (attempt ${attempt + 2} of ${target.retries + 1})`);
            await deps.sleep(delay);
        }
    }
}

;// CONCATENATED MODULE: external "node:path"
const external_node_path_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");
;// CONCATENATED MODULE: ./src/inputs.ts






/**
 * Every input the action reads, with the default action.yml declares (a test keeps the two equal).
 * Defaults are applied here too, because an input passed as an empty expression (`${{ vars.X }}`)
 * reaches the action as '' and must not silently mean something else than the documented default.
 */
const INPUT_DEFAULTS = {
    mode: 'rebuild',
    path: '.',
    image: '',
    host: '',
    user: '',
    port: '22',
    'private-key': '',
    'known-hosts': '',
    'strict-host-key-checking': 'true',
    'ssh-retries': '2',
    hook: '',
    'hook-dir': '',
    'build-context': '',
    'path-mapping': '',
    'check-context': 'auto',
    'upload-context': 'false',
    'upload-dir': '',
    'upload-max-mib': '512',
    'sync-context': 'false',
    service: 'staging',
    'staging-port': '',
    'compose-profile': 'staging',
    'staging-container': '',
    'prod-service': '',
    'prod-port': '',
    enabled: 'true',
    repositories: '',
    'revision-label': 'org.opencontainers.image.revision',
    docker: 'docker',
    'label-source': 'host',
    'registry-username': '',
    'registry-password': '',
    platform: 'linux/amd64',
    'check-container': 'auto',
    'skip-if-fresh': 'false',
    'require-source': 'false',
    'prod-image': '',
    'expected-revision': '',
    'image-id': '',
    'image-digest': '',
    'git-timeout': '30',
    'inspect-timeout': '30',
    'rebuild-timeout': '1200'
};
/** Upper bound for any timeout input: a day is longer than any sane rebuild. */
const MAX_TIMEOUT_SECONDS = 86_400;
/** Upper bound for ssh-retries: with backoff capped at 8 s, ten retries wait about a minute. */
const MAX_SSH_RETRIES = 10;
/** Reads inputs from the runner, masking the private key the moment it is read. */
function readInputsFromRunner() {
    return name => {
        const value = getInput(name);
        if (name === 'private-key' || name === 'registry-password')
            maskLines(value);
        return value;
    };
}
/** Reads the runner's context from its environment, with sane fallbacks for local runs. */
function readRunContext(env = process.env) {
    return {
        repository: env.GITHUB_REPOSITORY ?? '',
        workspace: env.GITHUB_WORKSPACE || process.cwd(),
        runnerTemp: env.RUNNER_TEMP || '',
        serverUrl: env.GITHUB_SERVER_URL || 'https://github.com'
    };
}
/** The kill switch and allowlist, read apart from the rest so they work when the rest is broken. */
function parseSwitch(read) {
    const enabled = parseBoolean(read, 'enabled');
    return {
        enabled,
        // Off means off: a broken allowlist must not fail a run that the switch disabled.
        allowlist: enabled ? checkedAllowlist(parseRepositoryList(read('repositories'))) : []
    };
}
/**
 * Allowlist entries must be `owner/name` or a bare `name` (a `.git` suffix or a server prefix is
 * removed first): anything else would make the gate `not-applicable`, which passes, on every run
 * without a word.
 */
function checkedAllowlist(entries) {
    return entries.map(entry => {
        const normalized = normalizeRepository(entry);
        if (normalized === undefined) {
            throw new InputError(`input repositories: ${JSON.stringify(entry.slice(0, 80))} is not owner/name or a bare repository name`);
        }
        return normalized;
    });
}
/** Validates every input and returns typed settings, or throws an InputError naming the input. */
function parseSettings(read, context) {
    const value = (name) => {
        const raw = read(name);
        if (raw.includes('\0'))
            throw new InputError(`input ${name} contains a NUL byte`);
        return raw.trim() || INPUT_DEFAULTS[name];
    };
    const mode = value('mode');
    if (mode !== 'rebuild' && mode !== 'verify' && mode !== 'promote') {
        throw new InputError(`input mode must be "rebuild", "verify" or "promote", got ${JSON.stringify(mode)}`);
    }
    const image = value('image');
    if (!image)
        throw new InputError('input image is required (the staging image reference)');
    if (!isImageReference(image)) {
        throw new InputError(`input image is not a valid image reference: ${JSON.stringify(image)} (expected e.g. registry.example.com/app:staging)`);
    }
    const hook = mode === 'rebuild' ? value('hook') : '';
    if (mode === 'rebuild' && !hook) {
        throw new InputError('input hook is required in rebuild mode (the hook script on the host)');
    }
    const staging = {
        service: value('service'),
        port: optionalPort(value('staging-port'), 'staging-port'),
        composeProfile: value('compose-profile'),
        container: value('staging-container') || value('service'),
        containerNamed: value('staging-container') !== ''
    };
    checkNotProd(staging, value('prod-service'), optionalPort(value('prod-port'), 'prod-port'));
    const revisionLabel = value('revision-label');
    if (!/^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/.test(revisionLabel)) {
        throw new InputError(`input revision-label must be a label key such as org.opencontainers.image.revision, got ${JSON.stringify(revisionLabel)}`);
    }
    const docker = value('docker');
    if (!/^[A-Za-z0-9_./+-]+$/.test(docker) || docker.startsWith('-')) {
        throw new InputError(`input docker must be a command name or path such as docker or podman, got ${JSON.stringify(docker)}`);
    }
    const checkoutPath = external_node_path_namespaceObject.resolve(context.workspace, value('path'));
    const hookDir = value('hook-dir');
    const ssh = parseSsh(value);
    const labelSource = oneOf(value('label-source'), 'label-source', ['host', 'registry']);
    const registry = parseRegistry(value);
    if (labelSource === 'registry') {
        // The registry's own reading of the reference, now: after the hook it would be too late.
        try {
            parseImageReference(image);
        }
        catch (error) {
            throw new InputError(`input image cannot be read from a registry: ${describeError(error)}`);
        }
    }
    const containerCheck = { auto: 'auto', true: 'require', false: 'skip' }[oneOf(value('check-container'), 'check-container', ['auto', 'true', 'false'], yamlWord)];
    if (containerCheck === 'require' && (labelSource === 'registry' || mode === 'promote')) {
        throw new InputError('input check-container true needs mode rebuild or verify with label-source host: the container is inspected on the host');
    }
    const promote = mode === 'promote' ? parsePromote(value, image, labelSource) : undefined;
    for (const name of ['prod-image', 'expected-revision', 'image-id', 'image-digest']) {
        if (!promote && value(name)) {
            throw new InputError(`input ${name} is only used in promote mode: set mode: promote, or remove ${name}`);
        }
    }
    const repository = context.repository;
    return {
        mode,
        checkoutPath,
        image,
        ssh,
        hook,
        hookDir,
        buildContext: deriveBuildContext(value('build-context'), value('path-mapping'), checkoutPath, hookDir),
        context: parseContext(value, mode),
        staging,
        revisionLabel,
        docker,
        timeouts: {
            gitMs: timeoutMs(value('git-timeout'), 'git-timeout'),
            inspectMs: timeoutMs(value('inspect-timeout'), 'inspect-timeout'),
            rebuildMs: timeoutMs(value('rebuild-timeout'), 'rebuild-timeout')
        },
        labelSource,
        registry,
        containerCheck: mode === 'promote' || labelSource === 'registry' ? 'skip' : containerCheck,
        requireSource: parseBoolean(value, 'require-source'),
        skipIfFresh: parseSkipIfFresh(value, mode, labelSource),
        repositoryUrl: repository ? `${context.serverUrl.replace(/\/+$/, '')}/${repository}` : '',
        promote
    };
}
/** skip-if-fresh: only where a hook would run and the host can show what runs. */
function parseSkipIfFresh(value, mode, labelSource) {
    const skip = parseBoolean(value, 'skip-if-fresh');
    if (skip && mode !== 'rebuild') {
        throw new InputError(`input skip-if-fresh is only used in rebuild mode: the ${mode} mode runs no hook`);
    }
    if (skip && labelSource !== 'host') {
        throw new InputError('input skip-if-fresh needs label-source host: freshness includes the running staging containers, read on the host');
    }
    return skip;
}
/** The build-context inputs, refused where they would be silently ignored or contradict. */
function parseContext(value, mode) {
    const check = { auto: 'auto', true: 'require', false: 'skip' }[oneOf(value('check-context'), 'check-context', ['auto', 'true', 'false'], yamlWord)];
    const upload = parseBoolean(value, 'upload-context');
    const sync = parseBoolean(value, 'sync-context');
    const uploadDir = value('upload-dir');
    const uploadMaxBytes = wholeNumber(value('upload-max-mib'), 'upload-max-mib', 1, 65536) * MIB;
    if (mode !== 'rebuild' && (upload || sync)) {
        throw new InputError(`input ${upload ? 'upload-context' : 'sync-context'} is only used in rebuild mode: the ${mode} mode builds nothing`);
    }
    if (upload && (value('build-context') || value('path-mapping'))) {
        throw new InputError(`inputs upload-context and ${value('build-context') ? 'build-context' : 'path-mapping'} contradict each other: with upload-context the hook builds the uploaded archive, so remove ${value('build-context') ? 'build-context' : 'path-mapping'}`);
    }
    if (upload && sync) {
        throw new InputError('inputs upload-context and sync-context contradict each other: sync-context moves a clone on the host, upload-context ships the commit instead; choose one');
    }
    if (uploadDir && (!uploadDir.startsWith('/') || /[\n\r]/.test(uploadDir))) {
        throw new InputError(`input upload-dir must be an absolute directory on the host, got ${JSON.stringify(uploadDir)}`);
    }
    if (uploadDir && !upload) {
        throw new InputError('input upload-dir is only used with upload-context: true');
    }
    return { check, upload, uploadDir, uploadMaxBytes, sync };
}
const MIB = 1024 * 1024;
function oneOf(raw, name, allowed, fold = word => word) {
    const found = allowed.find(option => option === fold(raw));
    if (found === undefined) {
        throw new InputError(`input ${name} must be ${allowed.map(option => JSON.stringify(option)).join(' or ')}, got ${JSON.stringify(raw)}`);
    }
    return found;
}
function parsePromote(value, image, labelSource) {
    const prodImage = value('prod-image');
    if (!prodImage) {
        throw new InputError('input prod-image is required in promote mode (the tag to promote to)');
    }
    if (!isImageReference(prodImage)) {
        throw new InputError(`input prod-image is not a valid image reference: ${JSON.stringify(prodImage)}`);
    }
    // Compared as docker names them: `docker.io/acme/shop:staging` is the tag `acme/shop:staging`.
    if (canonicalImageReference(prodImage) === canonicalImageReference(image)) {
        throw new InputError(`the staging target equals the prod target: input prod-image ${JSON.stringify(prodImage)} names the same image as image ${JSON.stringify(image)}; promote retags staging to a different prod tag`, 'prod-target');
    }
    const expectedRevision = value('expected-revision');
    if (expectedRevision && !REVISION_PATTERN.test(expectedRevision)) {
        throw new InputError(`input expected-revision must be a full 40- or 64-hex lowercase commit id (the gate's expected_revision output), got ${JSON.stringify(expectedRevision.slice(0, 80))}`);
    }
    const imageId = value('image-id');
    if (imageId && !/^sha256:[0-9a-f]{64}$/.test(imageId)) {
        throw new InputError(`input image-id must be an image id sha256:<64 hex> (the gate's image_id output), got ${JSON.stringify(imageId.slice(0, 80))}`);
    }
    const imageDigest = parsePromoteSource(value, image, prodImage, labelSource);
    // Only a registry promotion has a digest to pin; the host one keeps its settings as they were.
    return labelSource === 'registry'
        ? { prodImage, expectedRevision, imageId, imageDigest }
        : { prodImage, expectedRevision, imageId };
}
/**
 * What a promotion starts from, by label source: `image-id` names an image on the host (host
 * promotion, `docker tag`), `image-digest` a manifest in the registry (registry promotion, a
 * manifest PUT by digest within the same registry, to a tag). Each is refused with the other
 * source, where it would silently pin nothing. Returns the image digest ('' = none).
 */
function parsePromoteSource(value, image, prodImage, labelSource) {
    const imageDigest = value('image-digest');
    if (labelSource !== 'registry') {
        if (imageDigest) {
            throw new InputError('input image-digest needs label-source registry (a registry promotion); with label-source host, pin the image with image-id');
        }
        return '';
    }
    if (value('image-id')) {
        throw new InputError("input image-id is for label-source host (docker tag on the host); a registry promotion pins the manifest with image-digest (the gate job's image_digest output)");
    }
    if (imageDigest && !/^sha256:[0-9a-f]{64}$/.test(imageDigest)) {
        throw new InputError(`input image-digest must be a manifest digest sha256:<64 hex> (the gate's image_digest output), got ${JSON.stringify(imageDigest.slice(0, 80))}`);
    }
    let staging;
    let prod;
    try {
        staging = parseImageReference(image);
        prod = parseImageReference(prodImage);
    }
    catch (error) {
        throw new InputError(`input prod-image cannot be written in a registry: ${describeError(error)}`);
    }
    if (prod.digest !== undefined) {
        throw new InputError(`input prod-image must be a tag for a registry promotion (it is written), got the digest reference ${JSON.stringify(prodImage)}`);
    }
    if (prod.registry.toLowerCase() !== staging.registry.toLowerCase()) {
        throw new InputError(`input prod-image is on ${prod.registry} but image is on ${staging.registry}: a registry promotion writes within one registry (blob mounts)`);
    }
    if (imageDigest && staging.digest !== undefined && staging.digest !== imageDigest) {
        throw new InputError(`input image-digest ${imageDigest} contradicts the digest in image ${JSON.stringify(image)}`);
    }
    return imageDigest;
}
function parseRegistry(value) {
    const username = value('registry-username');
    const password = value('registry-password');
    const platform = value('platform');
    // One platform grammar, the registry reader's (a comma list, each os/arch[/variant]).
    try {
        parsePlatforms(platform);
    }
    catch (error) {
        throw new InputError(`input ${describeError(error)}`);
    }
    if (!!username !== !!password) {
        throw new InputError('inputs registry-username and registry-password go together: set both or neither');
    }
    return { username, password, platform };
}
/**
 * BUILD_CONTEXT as the host sees it: explicit wins; else the checkout path translated through
 * `path-mapping` (a runner container that mounts the host's repositories); else `hook-dir`.
 */
function deriveBuildContext(explicit, mapping, checkoutPath, hookDir) {
    if (explicit)
        return explicit;
    if (!mapping)
        return hookDir;
    const eq = mapping.indexOf('=');
    const from = trimSlashes(mapping.slice(0, eq));
    const to = trimSlashes(mapping.slice(eq + 1));
    if (eq < 1 || !from.startsWith('/') || !to.startsWith('/')) {
        throw new InputError(`input path-mapping must be <runner-prefix>=<host-prefix> with two absolute paths, got ${JSON.stringify(mapping)}`);
    }
    const inside = from === '/' || checkoutPath === from || checkoutPath.startsWith(`${from}/`);
    if (!inside) {
        throw new InputError(`input path-mapping: the checkout ${checkoutPath} is not under the runner prefix ${from}`);
    }
    const rest = checkoutPath.slice(from.length);
    return external_node_path_namespaceObject.posix.join(to, rest);
}
/**
 * Whether a string is a container image reference (`[host[:port]/]name[:tag][@digest]`), by the
 * one reference grammar the registry reader and the promote check use too. It also keeps
 * option-like values (`-x`) out of argv.
 */
function isImageReference(ref) {
    try {
        splitImageReference(ref);
        return true;
    }
    catch {
        return false;
    }
}
function parseSsh(value) {
    const host = value('host');
    if (!host)
        return undefined;
    if (host.startsWith('-') || !/^[A-Za-z0-9._:%[\]-]+$/.test(host)) {
        throw new InputError(`input host must be a host name or address, got ${JSON.stringify(host)}`);
    }
    const user = value('user');
    if (user && (user.startsWith('-') || !/^[A-Za-z0-9._][A-Za-z0-9._-]*\$?$/.test(user))) {
        throw new InputError(`input user must be a login name, got ${JSON.stringify(user)}`);
    }
    const port = parsePort(value('port'), 'port');
    const strictHostKeyChecking = parseBoolean(value, 'strict-host-key-checking');
    const knownHosts = value('known-hosts')
        .split(/\r?\n/)
        .map(line => line.trim())
        .filter(line => line !== '' && !line.startsWith('#'));
    if (strictHostKeyChecking && knownHosts.length === 0) {
        throw new InputError(`input known-hosts is required when host is set: pin the staging host's key, e.g. the output of \`ssh-keyscan -p ${port} ${host}\`, stored as a secret or variable`);
    }
    const badLine = knownHosts.find(line => line.split(/\s+/).length < 3);
    if (badLine !== undefined) {
        throw new InputError('input known-hosts has a line that is not "<host> <key-type> <key>" (use the output of ssh-keyscan)');
    }
    return {
        host,
        user,
        port,
        privateKey: normalizePrivateKey(value('private-key')),
        knownHosts: knownHosts.length ? `${knownHosts.join('\n')}\n` : '',
        strictHostKeyChecking,
        retries: wholeNumber(value('ssh-retries'), 'ssh-retries', 0, MAX_SSH_RETRIES)
    };
}
/** Private keys pasted into secrets often carry CRLF or lose the final newline; ssh needs both fixed. */
function normalizePrivateKey(raw) {
    if (!raw)
        return '';
    const key = raw.replace(/\r\n?/g, '\n').trim();
    if (!/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\n[\s\S]+\n-----END [A-Z0-9 ]*PRIVATE KEY-----$/.test(key)) {
        throw new InputError('input private-key does not look like a private key (expected the whole file, from "-----BEGIN … PRIVATE KEY-----" to its END line)');
    }
    return `${key}\n`;
}
function checkNotProd(staging, prodService, prodPort) {
    if (prodService && (staging.service === prodService || staging.container === prodService)) {
        throw new InputError(`the staging target equals the prod target: service/staging-container ${JSON.stringify(prodService)} is prod-service; the gate only ever rebuilds staging`, 'prod-target');
    }
    if (prodPort && staging.port === prodPort) {
        throw new InputError(`the staging target equals the prod target: staging-port ${prodPort} is prod-port; the gate only ever rebuilds staging`, 'prod-target');
    }
}
/**
 * A keyword in lower case when written as YAML 1.2's core schema writes booleans (`true`, `True`
 * or `TRUE`), so every keyword input folds case alike; other spellings are kept for the refusal.
 */
function yamlWord(raw) {
    const lower = raw.toLowerCase();
    const capitalised = `${lower.charAt(0).toUpperCase()}${lower.slice(1)}`;
    return [lower, capitalised, lower.toUpperCase()].includes(raw) ? lower : raw;
}
function parseBoolean(read, name) {
    const raw = read(name).trim() || INPUT_DEFAULTS[name];
    const word = yamlWord(raw);
    if (word === 'true')
        return true;
    if (word === 'false')
        return false;
    throw new InputError(`input ${name} must be true or false, got ${JSON.stringify(raw)}`);
}
function parsePort(raw, name) {
    const port = /^[0-9]{1,5}$/.test(raw) ? Number(raw) : NaN;
    if (!(port >= 1 && port <= 65535)) {
        throw new InputError(`input ${name} must be a TCP port from 1 to 65535, got ${JSON.stringify(raw)}`);
    }
    return port;
}
function optionalPort(raw, name) {
    return raw ? String(parsePort(raw, name)) : '';
}
function timeoutMs(raw, name) {
    return wholeNumber(raw, name, 1, MAX_TIMEOUT_SECONDS, ' of seconds') * 1000;
}
function wholeNumber(raw, name, min, max, unit = '') {
    const n = /^[0-9]{1,9}$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= min && n <= max)) {
        throw new InputError(`input ${name} must be a whole number${unit} from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return n;
}
function trimSlashes(p) {
    const trimmed = p.trim().replace(/\/+$/, '');
    return trimmed || (p.trim().startsWith('/') ? '/' : '');
}
/** The runner masks line by line, so a multi-line secret is registered one line at a time. */
function maskLines(secret) {
    for (const line of secret.split(/\r?\n/)) {
        if (line.trim())
            setSecret(line.trim());
    }
}

;// CONCATENATED MODULE: ./src/failure-help.ts
/**
 * For each failure class, the first thing a deploy engineer should do. Shown in the summary next
 * to the cause, and the README's failure table is checked against it, so the two never drift.
 */
const FAILURE_HELP = {
    'invalid-input': 'Fix the named input. Nothing ran on the host.',
    'prod-target': 'Point service, staging-container and staging-port at staging: they equal the prod target. Nothing ran on the host.',
    'git-failed': 'Check out the validated commit first (actions/checkout) and point path at it; the runner needs git.',
    'empty-revision': 'The checkout gave no revision: check that path is the checkout of this run.',
    'host-key': "Compare the fingerprint the host offered with the host's own key; if it is the host's, pin the given line in known-hosts. Otherwise treat it as an attack.",
    transport: 'Check that the runner can reach host:port and log in as user with private-key (authorized_keys). Connection failures before the hook are retried (ssh-retries).',
    'hook-failed': 'Read the hook output group in the log: the hook failed on the host.',
    timeout: 'The named bound expired and the work was stopped on the host. Raise that timeout or find what hangs.',
    'inspect-failed': 'Check the container engine on the host, the docker input and that the image exists there.',
    'missing-label': 'Build the image with --label org.opencontainers.image.revision=$GIT_SHA (or set revision-label).',
    mismatch: 'Do not promote: the image was not built from the validated commit. Make the hook rebuild from GIT_SHA.',
    'stale-container': 'The running staging container runs another image than the verified one: recreate it (compose up --force-recreate).',
    'wrong-source': 'The image was built from another repository than this one: check the image name and org.opencontainers.image.source.',
    'registry-auth': 'Check registry-username and registry-password (a token with pull access; a registry promotion also needs push on the prod-image repository).',
    'registry-not-found': 'Check the image reference, its tag and the platform input.',
    'stale-context': 'The build context on the host is not the validated commit (behind, ahead or dirty), so the hook never ran. Use upload-context: true, or let the hook sync a clean clone (sync-context: true).',
    'registry-error': 'The registry answered with an error or could not be reached; for a private CA set NODE_EXTRA_CA_CERTS.'
};

;// CONCATENATED MODULE: ./src/report.ts

/** Output names, exactly as action.yml declares them; every one is set on every path. */
function reportOutputs(report) {
    const { decision, facts } = report;
    return {
        expected_revision: facts.expectedRevision,
        image_revision: facts.imageRevision,
        image_id: facts.imageId,
        image_digest: facts.imageDigest,
        prod_image_id: facts.prodImageId,
        prod_image_digest: facts.prodImageDigest,
        rebuilt: facts.rebuilt,
        verdict: decision.verdict,
        reason: decision.reason,
        failure: decision.failure
    };
}
/** Milliseconds for people: `850 ms`, `1.2 s`, `3 min 5 s`. */
function formatDuration(ms) {
    if (ms < 1000)
        return `${Math.round(ms)} ms`;
    if (ms < 60_000)
        return `${(ms / 1000).toFixed(1)} s`;
    const seconds = Math.round(ms / 1000);
    return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}
/** The failure annotation: the reason with its class, so a log reader can act on one line. */
function failureMessage(decision) {
    const { failure, verdict, reason } = decision;
    return failure && failure !== verdict ? `${reason} [${failure}]` : reason;
}
/**
 * The job summary as GitHub-flavoured Markdown: a short verdict line (with the failure class),
 * the reason, then the table, with what to do first when the gate failed.
 */
function renderSummary(report) {
    const { decision, facts } = report;
    const icon = decision.pass ? '✅' : '❌';
    const { failure, verdict } = decision;
    const headline = !failure
        ? decision.reason
        : failure === verdict
            ? verdict
            : `${verdict} · ${failure}`;
    const code = (value) => (value ? `<code>${escapeCell(value)}</code>` : '—');
    const text = (value) => (value ? escapeCell(value) : '—');
    const times = [
        ...facts.phases.map(phase => `${phase.name} ${formatDuration(phase.ms)}`),
        `total ${formatDuration(report.totalMs)}`
    ].join(' · ');
    const rows = [
        ['Repository', text(report.repository)],
        ['Mode', text(report.mode)],
        ['Host', text(report.where)],
        ['Image', code(report.image)],
        ['Expected revision', code(facts.expectedRevision)],
        ['Image revision', code(facts.imageRevision)],
        ['Image id', code(facts.imageId)],
        ...(facts.contextNote ? [['Build context', text(facts.contextNote)]] : []),
        ...(facts.imageDigest ? [['Image digest', code(facts.imageDigest)]] : []),
        ...(facts.prodImageId ? [['Prod image id', code(facts.prodImageId)]] : []),
        ...(facts.prodImageDigest
            ? [['Prod image digest', code(facts.prodImageDigest)]]
            : []),
        ['Verdict', `**${decision.verdict}**`],
        ['Failure', text(decision.failure)],
        ...(decision.failure
            ? [['What to do', escapeCell(FAILURE_HELP[decision.failure])]]
            : []),
        ['Time', escapeCell(times)]
    ];
    return [
        // The host in the title: a fleet's N summaries in one job list must be told apart.
        `### ${icon} ${escapeCell(headline)}${report.where ? ` — ${escapeCell(report.where)}` : ''}`,
        '',
        ...(decision.failure ? [escapeCell(decision.reason), ''] : []),
        '| provenance-gate | |',
        '| --- | --- |',
        ...rows.map(([name, value]) => `| ${name} | ${value} |`),
        ''
    ].join('\n');
}
/** Makes any text safe inside one table cell: no HTML, no column breaks, no line breaks. */
function escapeCell(value) {
    return value
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/\|/g, '&#124;')
        .replace(/[`*_~[\]\\]/g, match => `\\${match}`)
        .replace(/\s*(?:\r\n|\r|\n)\s*/g, ' ');
}

;// CONCATENATED MODULE: ./src/runner.ts


/**
 * This runner itself: sessions for a self-hosted runner on the staging host, and git, run as argv
 * (never a shell string) with every GIT_* variable cleared, so the job's environment cannot point
 * the revision at another repository.
 */
class LocalRunner {
    where = 'local';
    session(input, options) {
        const [shell = 'sh', ...args] = SESSION_COMMAND.split(' ');
        return runProcess(shell, args, { ...options, input });
    }
    git(args, timeoutMs) {
        return runProcess('git', args, { timeoutMs, env: childEnvironment(process.env, true) });
    }
    /** git with its stdout as a stream (the upload's archive), bounded like every process. */
    gitStream(args, timeoutMs) {
        return spawnStream('git', args, { timeoutMs, env: childEnvironment(process.env, true) });
    }
    async close() { }
}

;// CONCATENATED MODULE: ./src/ssh-runner.ts








/** Seconds ssh may spend on the TCP connect before giving up. */
const CONNECT_TIMEOUT_SECONDS = 20;
/** Hard bound on opening the connection: TCP connect, key exchange and authentication. */
const OPEN_BOUND_MS = (CONNECT_TIMEOUT_SECONDS + 25) * 1000;
/** Bound on closing the shared connection at the end, and on the local key check. */
const CLOSE_BOUND_MS = 5000;
/** Bound on asking the host which key it offers, to word a host-key failure. */
const KEYSCAN_SECONDS = 5;
/** A unix socket path must fit in 108 bytes and ssh appends a 17-byte suffix while creating it. */
const MAX_CONTROL_PATH = 90;
/** The master exits by itself after this long unused, should this process die before closing it. */
const CONTROL_PERSIST_SECONDS = 600;
/** Where commands run, as messages and the summary name it: `user@host:port`, or `local`. */
function describeTarget(target) {
    if (!target)
        return 'local';
    return `${target.user ? `${target.user}@` : ''}${target.host}:${target.port}`;
}
/**
 * One authenticated ssh connection to the staging host, shared by every command of the run
 * (ControlMaster in a private directory), so the host key is checked once and each further
 * command costs a round trip, not a handshake.
 */
class SshRunner {
    where;
    args;
    resources;
    closed = false;
    constructor(where, args, resources) {
        this.where = where;
        this.args = args;
        this.resources = resources;
    }
    /**
     * Writes the key (0600) and known_hosts into a fresh private directory under `tempRoot`, then
     * opens the master connection. Throws a GateError (`host-key` or `transport`) naming the cause;
     * on failure nothing is left behind. `remember` learns the resources first, for the post step.
     */
    static async open(target, tempRoot, remember = () => undefined) {
        const destination = target.user ? `${target.user}@${target.host}` : target.host;
        const resources = { dirs: [], controlPath: '', destination };
        let args;
        try {
            args = await prepareFiles(target, tempRoot, resources, remember);
        }
        catch (error) {
            await removeDirs(resources);
            throw new GateError('transport', `cannot write the ssh key and known_hosts under ${tempRoot || external_node_os_namespaceObject.tmpdir()}: ${describeError(error)}`);
        }
        const keyProblem = await checkPrivateKey(args);
        if (keyProblem) {
            await removeDirs(resources);
            throw keyProblem;
        }
        const runner = new SshRunner(describeTarget(target), args, resources);
        const opened = await runProcess('ssh', [
            ...args,
            '-o', 'ControlMaster=yes',
            '-o', `ControlPersist=${CONTROL_PERSIST_SECONDS}`,
            '-f', '-N',
            '--', destination
        ], // prettier-ignore
        { timeoutMs: OPEN_BOUND_MS });
        if (opened.exitCode !== 0 || opened.timedOut) {
            // No master exists: ssh forks it only after authenticating, and then exits 0.
            await removeDirs(resources);
            const offered = isHostKeyFailure(opened.outputTail) ? await offeredHostKeys(target) : [];
            throw connectError(runner.where, opened, offered, target.knownHosts);
        }
        return runner;
    }
    session(input, options) {
        const args = [
            ...this.args,
            '-o', 'ControlMaster=no',
            '--', this.resources.destination, SESSION_COMMAND
        ]; // prettier-ignore
        return runProcess('ssh', args, { ...options, input });
    }
    /** Stops the master connection and removes the key, known_hosts and socket directories. */
    async close() {
        if (this.closed)
            return;
        this.closed = true;
        await closeSshResources(this.resources);
    }
}
/**
 * Creates the private directory with known_hosts and the key (0600), and returns ssh's options.
 * `resources` learns each directory as soon as it exists, so a failure half-way removes it.
 */
async function prepareFiles(target, tempRoot, resources, remember) {
    const dir = await (0,promises_namespaceObject.mkdtemp)(external_node_path_namespaceObject.join(tempRoot || external_node_os_namespaceObject.tmpdir(), 'provenance-gate-'));
    resources.dirs.push(dir);
    resources.controlPath = external_node_path_namespaceObject.join(dir, 'cm');
    if (resources.controlPath.length > MAX_CONTROL_PATH) {
        const socketDir = await (0,promises_namespaceObject.mkdtemp)(external_node_path_namespaceObject.join(external_node_os_namespaceObject.tmpdir(), 'pg-'));
        resources.dirs.push(socketDir);
        resources.controlPath = external_node_path_namespaceObject.join(socketDir, 'cm');
    }
    remember(resources);
    const knownHostsFile = external_node_path_namespaceObject.join(dir, 'known_hosts');
    await (0,promises_namespaceObject.writeFile)(knownHostsFile, target.knownHosts, { mode: 0o600 });
    const args = [
        '-T',
        '-o', 'BatchMode=yes',
        '-o', `ConnectTimeout=${CONNECT_TIMEOUT_SECONDS}`,
        '-o', 'ServerAliveInterval=15',
        '-o', 'ServerAliveCountMax=4',
        '-o', `StrictHostKeyChecking=${target.strictHostKeyChecking ? 'yes' : 'accept-new'}`,
        '-o', `UserKnownHostsFile=${knownHostsFile}`,
        '-o', 'GlobalKnownHostsFile=/dev/null',
        '-o', `ControlPath=${resources.controlPath}`,
        '-o', 'LogLevel=ERROR',
        '-p', String(target.port)
    ]; // prettier-ignore
    if (target.privateKey) {
        const keyFile = external_node_path_namespaceObject.join(dir, 'key');
        await (0,promises_namespaceObject.writeFile)(keyFile, target.privateKey, { mode: 0o600 });
        args.push('-i', keyFile, '-o', 'IdentitiesOnly=yes');
    }
    return args;
}
/** Closes a master and removes its files; used by `close` and, after a crash, by the post step. */
async function closeSshResources(resources) {
    const { controlPath, destination } = resources;
    await runProcess('ssh', ['-o', `ControlPath=${controlPath}`, '-O', 'exit', '--', destination], {
        timeoutMs: CLOSE_BOUND_MS
    });
    await removeDirs(resources);
}
/** Removes the private directories (key, known_hosts, socket) of one connection. */
async function removeDirs(resources) {
    await Promise.all(resources.dirs.map(dir => (0,promises_namespaceObject.rm)(dir, { recursive: true, force: true })));
}
/**
 * Checks the key locally before connecting, so a key that ssh cannot use fails as bad input with
 * its real cause instead of a bare "Permission denied" from the host. A passphrase is the usual
 * one: batch mode cannot type it. Returns `undefined` when the key is usable or there is none.
 */
async function checkPrivateKey(sshArgs) {
    const keyFile = sshArgs[sshArgs.indexOf('-i') + 1];
    if (!sshArgs.includes('-i') || !keyFile)
        return undefined;
    const result = await runProcess('ssh-keygen', ['-y', '-P', '', '-f', keyFile], {
        timeoutMs: CLOSE_BOUND_MS
    });
    // Without ssh-keygen the check is skipped; ssh itself still refuses an unusable key.
    if (result.exitCode === 0 || result.spawnError)
        return undefined;
    if (/passphrase/i.test(result.outputTail)) {
        return new InputError('input private-key is protected by a passphrase: the gate runs ssh in batch mode and cannot type it. Use a deploy key without a passphrase, kept in a secret');
    }
    const detail = lastLines(result.outputTail.split(keyFile).join('<key>')) || 'unreadable';
    return new InputError(`input private-key is not a usable private key (ssh-keygen: ${detail})`);
}
/** Asks the host for its keys with ssh-keyscan (bounded); an empty list when it cannot. */
async function offeredHostKeys(target) {
    const result = await runProcess('ssh-keyscan', ['-T', String(KEYSCAN_SECONDS), '-p', String(target.port), '--', target.host], { timeoutMs: (KEYSCAN_SECONDS + 2) * 1000 });
    return parseKeyscan(result.stdout);
}
/** Parses ssh-keyscan output into pin-able lines with their SHA256 fingerprints. */
function parseKeyscan(stdout) {
    const keys = [];
    for (const line of stdout.split('\n')) {
        const [host, type, blob] = line.trim().split(/\s+/);
        if (!host || host.startsWith('#') || !type || !blob || !/^[A-Za-z0-9+/]+=*$/.test(blob)) {
            continue;
        }
        const digest = (0,external_node_crypto_namespaceObject.createHash)('sha256').update(Buffer.from(blob, 'base64')).digest('base64');
        keys.push({
            line: `${host} ${type} ${blob}`,
            type,
            fingerprint: `SHA256:${digest.replace(/=+$/, '')}`
        });
    }
    return keys;
}
const HOST_KEY_FAILURE = /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key .* not known|No [A-Z0-9]+ host key is known/i;
function isHostKeyFailure(output) {
    return HOST_KEY_FAILURE.test(output);
}
/** The key ssh complained about: the type it names (`ED25519` → `ssh-ed25519`), else ed25519. */
function pickOffered(output, offered) {
    const named = /\b(ED25519|ECDSA|RSA)\b/.exec(output)?.[1] ?? 'ED25519';
    const prefix = named === 'ECDSA' ? 'ecdsa-' : named === 'RSA' ? 'ssh-rsa' : 'ssh-ed25519';
    return offered.find(key => key.type.startsWith(prefix)) ?? offered[0];
}
/** ssh's words for a host key listed on an `@revoked` line (OpenSSH 9.2, tried for real). */
const REVOKED_OUTPUT = /REVOKED HOST KEY DETECTED|is marked as revoked|was revoked/i;
/** The key blobs of the `@revoked` lines of a known_hosts text. */
function revokedBlobs(knownHosts) {
    const blobs = new Set();
    for (const line of knownHosts.split('\n')) {
        const [marker, , , blob] = line.trim().split(/\s+/);
        if (marker === '@revoked' && blob)
            blobs.add(blob);
    }
    return blobs;
}
function blobOf(key) {
    return key.line.split(' ')[2] ?? '';
}
/**
 * Words a failed connect for the user: a host-key problem (with the key the host offered and the
 * line to pin, or, for a key on an `@revoked` line of `knownHosts`, never a line to pin), a
 * refused login, or the network. Only the network kind may be retried: nothing has run on the
 * host yet, and a new attempt can succeed.
 */
function connectError(where, result, offered = [], knownHosts = '') {
    if (result.spawnError) {
        return new GateError('transport', `cannot run ssh on this runner: ${result.spawnError}`);
    }
    if (result.timedOut) {
        return new GateError('transport', `ssh connection to ${where} timed out after ${OPEN_BOUND_MS / 1000} s`, true);
    }
    const detail = lastLines(result.outputTail) || `exit ${result.exitCode}`;
    if (isHostKeyFailure(result.outputTail)) {
        const revoked = revokedBlobs(knownHosts);
        const complained = pickOffered(result.outputTail, offered);
        // ssh 9.2 calls a key that is both revoked and pinned "not known": the offered key tells.
        if (REVOKED_OUTPUT.test(result.outputTail) || (complained && revoked.has(blobOf(complained)))) {
            const shown = [complained, ...offered].find(k => k && revoked.has(blobOf(k)));
            return new GateError('host-key', `ssh host key of ${where} is REVOKED in known-hosts: an @revoked line lists the key the host offered${shown ? ` (${shown.type} ${shown.fingerprint})` : ''}, so ssh refused it (the hook did not run). A revoked key may be in someone else's hands: do not pin it again. Find out why it was revoked; if the host has a new key, check its fingerprint out of band (\`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub\` on the host) and pin that key in known-hosts.`);
        }
        const changed = /CHANGED/.test(result.outputTail);
        const key = pickOffered(result.outputTail, offered.filter(k => !revoked.has(blobOf(k))));
        const advice = key
            ? `The host offered ${key.type} ${key.fingerprint}. If that is your staging host's key (compare with \`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub\` on the host), pin this line in known-hosts: ${key.line}`
            : 'Run ssh-keyscan against the host from a network you trust, compare the fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the host, and pin the line in known-hosts.';
        return new GateError('host-key', `ssh host key of ${where} ${changed ? 'has CHANGED from' : 'does not match'} the pinned known-hosts (the hook did not run). ${advice}`);
    }
    if (/Permission denied|Too many authentication failures|no mutual signature/i.test(detail)) {
        return new GateError('transport', `ssh login to ${where} refused (${detail}): the host does not accept private-key for this user; check user and the key's line in authorized_keys (not retried)`);
    }
    return new GateError('transport', `ssh connection to ${where} failed: ${detail}`, true);
}

;// CONCATENATED MODULE: ./src/main.ts


















/** State key under which the main step leaves what the post step must clean up. */
const SSH_STATE = 'ssh-resources';
/** State key of this run's id, which names the run record on the host; '' once nothing is left. */
const RUN_STATE = 'run-id';
/** The production wiring of the gate's seams. */
function runnerDeps(runnerTemp, runId, cancel) {
    return {
        local: new LocalRunner(),
        runId,
        onRunner: runner => cancel.use(runner),
        openSsh: target => {
            if (!target.strictHostKeyChecking) {
                warning('strict-host-key-checking is false: an unknown host key is accepted, so a man in the middle could answer for the staging host. Pin the key with known-hosts.');
            }
            return SshRunner.open(target, runnerTemp, resources => saveState(SSH_STATE, JSON.stringify(resources))).then(runner => cancel.guard(runner));
        },
        log: actionLog(),
        now: () => Date.now(),
        sleep: ms => new Promise(resolve => setTimeout(resolve, ms)),
        nonce: newToken,
        readRegistry: (reference, options) => readRegistryImage(reference, { ...options, mask: secret => setSecret(secret) }),
        promoteRegistry: (request, options) => promoteInRegistry(request, { ...options, mask: secret => setSecret(secret) }),
        event: readEventContext()
    };
}
/**
 * The action's main step and its one error boundary: whatever happens inside, every output is
 * set, the summary is written and the job fails unless the verdict passes.
 */
async function run() {
    const started = Date.now();
    const context = readRunContext();
    const facts = emptyFacts();
    const runId = newToken();
    const cancel = new Cancellation(runId);
    const report = {
        facts,
        repository: context.repository,
        mode: '',
        where: '',
        image: ''
    };
    let decision;
    try {
        saveState('isPost', 'true');
        saveState(RUN_STATE, runId);
        cancel.listen();
        const read = readInputsFromRunner();
        const { enabled, allowlist } = parseSwitch(read);
        const skipped = decideApplicability(enabled, allowlist, context.repository);
        if (skipped) {
            decision = skipped;
        }
        else {
            const settings = parseSettings(read, context);
            report.mode = settings.mode;
            report.image = settings.image;
            report.where = describeTarget(settings.ssh);
            decision = await runGate(settings, runnerDeps(context.runnerTemp, runId, cancel), facts);
        }
    }
    catch (error) {
        decision =
            error instanceof GateError
                ? failClosed(`provenance fail-closed: ${error.message}`, error.failure)
                : failClosed(`provenance fail-closed: unexpected error: ${describeError(error)}`, PHASE_FAILURE[facts.current]);
    }
    const stopped = await cancel.settled();
    if (stopped) {
        decision = failClosed(`provenance fail-closed: the job was cancelled (${stopped})`, decision.failure || 'hook-failed');
    }
    // The host's run record is gone once a session ended or a cancellation ran: nothing for post.
    if (stopped || !facts.sessionOpen)
        saveState(RUN_STATE, '');
    try {
        await publish({ ...report, decision, totalMs: Date.now() - started });
    }
    catch (error) {
        warning(`could not set the outputs: ${describeError(error)}`);
    }
    if (!decision.pass)
        setFailed(failureMessage(decision));
}
/** The class of an unexpected error: that of the phase it broke, so `failure` is never empty. */
const PHASE_FAILURE = {
    '': 'invalid-input',
    git: 'git-failed',
    connect: 'transport',
    hook: 'hook-failed',
    inspect: 'inspect-failed',
    registry: 'registry-error',
    promote: 'inspect-failed',
    upload: 'transport',
    context: 'stale-context',
    probe: 'inspect-failed'
};
/** Sets the outputs and writes the summary; a summary that cannot be written is only a warning. */
async function publish(report) {
    for (const [name, value] of Object.entries(reportOutputs(report)))
        setOutput(name, value);
    info(oneLine(report.decision.reason));
    if (!process.env.GITHUB_STEP_SUMMARY)
        return;
    try {
        await summary.addRaw(renderSummary(report)).write();
    }
    catch (error) {
        warning(`could not write the job summary: ${describeError(error)}`);
    }
}
/**
 * The post step, after a main step that could not finish (a cancelled or killed job): stop what
 * the run left on the host (the hook's process group, the upload directory, named by the run
 * record there), then stop the ssh master and remove the key, known_hosts and socket directories.
 * Only what this action makes is touched, whatever the state says.
 */
async function post() {
    const runId = getState(RUN_STATE);
    if (/^[0-9a-f]{16}$/.test(runId)) {
        try {
            const context = readRunContext();
            const settings = parseSettings(readInputsFromRunner(), context);
            const runner = settings.ssh
                ? await SshRunner.open(settings.ssh, context.runnerTemp)
                : new LocalRunner();
            try {
                info(await cancelOnHost(runner, runId, 'post step'));
            }
            finally {
                await runner.close();
            }
        }
        catch (error) {
            warning(`could not reach the staging host to stop what the run left: ${describeError(error)}`);
        }
    }
    const saved = getState(SSH_STATE);
    if (!saved)
        return;
    try {
        const resources = ownResources(JSON.parse(saved), readRunContext().runnerTemp);
        if (!resources) {
            warning('the saved ssh state names files this action did not make; left alone');
            return;
        }
        if (resources.dirs.some(dir => (0,external_node_fs_namespaceObject.existsSync)(dir)))
            await closeSshResources(resources);
    }
    catch (error) {
        warning(`cleanup after provenance-gate failed: ${describeError(error)}`);
    }
}
/**
 * The saved ssh resources, only if every directory is one this action makes (its own prefix,
 * directly under its temp root) and the control socket lies inside one of them.
 */
function ownResources(saved, runnerTemp) {
    if (typeof saved !== 'object' || saved === null)
        return undefined;
    const { dirs, controlPath, destination } = saved;
    if (!Array.isArray(dirs) || typeof controlPath !== 'string' || typeof destination !== 'string') {
        return undefined;
    }
    const roots = [runnerTemp || external_node_os_namespaceObject.tmpdir(), external_node_os_namespaceObject.tmpdir()].map(root => external_node_path_namespaceObject.resolve(root));
    const own = (dir) => typeof dir === 'string' &&
        external_node_path_namespaceObject.isAbsolute(dir) &&
        roots.includes(external_node_path_namespaceObject.dirname(external_node_path_namespaceObject.resolve(dir))) &&
        /^(provenance-gate-|pg-)[A-Za-z0-9]{6}$/.test(external_node_path_namespaceObject.basename(dir));
    if (!dirs.every(own) || !dirs.some(dir => external_node_path_namespaceObject.dirname(controlPath) === dir))
        return undefined;
    if (destination.startsWith('-'))
        return undefined;
    return { dirs, controlPath, destination };
}
/** A random 16-hex token: a session's nonce or the run's id. */
function newToken() {
    return (0,external_node_crypto_namespaceObject.randomBytes)(8).toString('hex');
}
/**
 * Stops the run's hook on the host through the given runner: the cancel session reads the run
 * record, stops the named process group and removes the upload directory. Returns what it did.
 */
async function cancelOnHost(runner, runId, why) {
    const nonce = newToken();
    const plan = planCancelSession({ nonce, runId });
    const result = await runner.session(plan.script, {
        timeoutMs: plan.boundMs,
        endsWith: plan.endLine
    });
    const answer = parseSession(result.stdout, nonce);
    if (!answer.ended) {
        return `${why}: could not confirm what was left on ${runner.where} (${result.timedOut ? 'timed out' : `exit ${result.exitCode}`})`;
    }
    const done = [
        ...answer.stopped.map(group => `stopped the hook's process group ${group}`),
        ...answer.left.map(line => `(${line.slice(0, 120)})`),
        ...answer.removed.map(dir => `removed the upload ${dir}`)
    ];
    return `${why}: ${done.length ? done.join(', ') : 'nothing of this run was left running'} on ${runner.where}`;
}
/**
 * SIGTERM/SIGINT of the main step (a cancelled job): the hook must not go on running on the host.
 * The first signal sends the cancel session through the runner in use; the gate then ends as the
 * stopped hook reports, and the verdict says the job was cancelled.
 */
class Cancellation {
    runId;
    runner;
    pending;
    signal = '';
    constructor(runId) {
        this.runId = runId;
    }
    use(runner) {
        // A signal before the session started: nothing may start on the host now.
        if (runner && this.signal) {
            throw new GateError('hook-failed', `the job was cancelled (${this.signal}) before anything ran on the host`);
        }
        this.runner = runner;
    }
    listen() {
        for (const signal of ['SIGTERM', 'SIGINT']) {
            process.once(signal, () => {
                this.signal ||= signal;
                const runner = this.runner;
                this.pending ??= runner
                    ? cancelOnHost(runner, this.runId, `${signal} received`).then(line => {
                        info(line);
                        return `${signal}; ${line}`;
                    })
                    : Promise.resolve(`${signal}`);
            });
        }
    }
    /**
     * The runner, whose close waits for a cancellation in flight: the stopped hook ends the gate's
     * session, and closing the shared connection then would cut off the cancel session before it
     * reaped the group and confirmed it ("could not confirm what was left", exit 255).
     */
    guard(runner) {
        return {
            where: runner.where,
            session: (input, options) => runner.session(input, options),
            close: async () => {
                await this.settled();
                await runner.close();
            }
        };
    }
    /** What a cancellation did, once it finished; '' when there was none. */
    async settled() {
        return this.pending
            ? await this.pending.catch((error) => `cancelled: ${describeError(error)}`)
            : '';
    }
}
/** Whether this invocation is the post step: the main step marks its run in the state. */
function isPost() {
    return getState('isPost') === 'true';
}

;// CONCATENATED MODULE: ./src/index.ts

void (isPost() ? post() : run());


//# sourceMappingURL=index.js.map