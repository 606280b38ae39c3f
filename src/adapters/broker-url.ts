/** The URL schemes one kind of broker accepts, for `brokerUrlProblem`. */
export interface BrokerScheme {
  /** `Redis`, `AMQP`... as the error message names it. */
  readonly kind: string;
  /** The plain protocol first, then the TLS one: `['redis:', 'rediss:']`. */
  readonly protocols: readonly [string, string];
  /** A URL to show as an example. */
  readonly example: string;
}

/**
 * Why `url` cannot be a URL of that broker, or null when it can. Constructors and CLI specs share it, so a typo is
 * reported before anything connects, and never with the password in it.
 */
export function brokerUrlProblem(url: string, scheme: BrokerScheme): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${redactUrl(url)}" is not a URL; give one like ${scheme.example}`;
  }
  const [plain, tls] = scheme.protocols;
  if (parsed.protocol !== plain && parsed.protocol !== tls) {
    return `${redactUrl(url)} is not ${/^[AEIOU]/.test(scheme.kind) ? 'an' : 'a'} ${scheme.kind} URL; it must start with ${plain}// (or ${tls}// for TLS)`;
  }
  return null;
}

/** `url` with its password replaced by `***`, fit for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    // Not a URL: it may still hold a secret before an "@", so show only what comes after it.
    return url.includes('@') ? `***@${url.slice(url.lastIndexOf('@') + 1)}` : url;
  }
}
