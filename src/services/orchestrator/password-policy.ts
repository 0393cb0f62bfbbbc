import type { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { AppError, type FieldError } from '../../kernel/errors.js';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;
/**
 * zxcvbn score 3: "safely unguessable, moderate protection from an offline slow-hash attack"
 * (under 10^10 guesses is refused). Passwords are stored as argon2id hashes, the slow case.
 */
const MIN_SCORE = 3;
/**
 * zxcvbn's matching cost grows steeply with length and with l33t substitutions (seconds of CPU for
 * a 256-character password with the defaults, measured here). A password strong in its first 64
 * characters is strong; four substitutions still catch "p4ssw0rd" and its kin.
 */
const ESTIMATE_OPTIONS = { maxLength: 64, l33tMaxSubstitutions: 4 } as const;

let estimator: Promise<ZxcvbnFactory> | undefined;

/**
 * The estimator with its dictionaries (tens of MB once built) is loaded on the first password set,
 * not at start: most processes (workers, split services) never set one.
 */
function loadEstimator(): Promise<ZxcvbnFactory> {
  estimator ??= (async () => {
    const [{ ZxcvbnFactory }, common, { default: translations }] = await Promise.all([
      import('@zxcvbn-ts/core'),
      import('@zxcvbn-ts/language-common'),
      // The English texts only: the package's index would also load its word lists (~20 MB more heap).
      import('@zxcvbn-ts/language-en/dist/translations.mjs'),
    ]);
    return new ZxcvbnFactory({ ...ESTIMATE_OPTIONS, dictionary: common.dictionary, graphs: common.adjacencyGraphs, translations });
  })();
  estimator.catch(() => (estimator = undefined));
  return estimator;
}

/**
 * Refuses a password that is too short or too long, or easy to guess: common and breached
 * passwords, keyboard walks, repeats, dates, or the account's own email or name. The
 * problem+json names `field` and says why.
 */
export async function assertPasswordPolicy(password: string, account: { email: string; name?: string }, field = 'body.password'): Promise<void> {
  const problems: string[] = [];
  if (password.length < PASSWORD_MIN_LENGTH) problems.push(`must be at least ${PASSWORD_MIN_LENGTH} characters`);
  if (password.length > PASSWORD_MAX_LENGTH) problems.push(`must be at most ${PASSWORD_MAX_LENGTH} characters`);
  if (password.trim().toLowerCase() === account.email.trim().toLowerCase()) problems.push('must not be the email address');
  if (problems.length === 0) {
    const localPart = account.email.split('@')[0] ?? '';
    const result = (await loadEstimator()).check(password, [account.email, localPart, ...(account.name ? [account.name] : [])]);
    if (result.score < MIN_SCORE) {
      const why = [result.feedback.warning, ...result.feedback.suggestions].filter(Boolean).join(' ');
      problems.push(`is too easy to guess${why ? `: ${why}` : ''}`);
    }
  }
  if (problems.length) {
    const errors: FieldError[] = problems.map((message) => ({ path: field, message }));
    throw new AppError('validation_failed', `The password ${problems.join(' and ')}`, { errors });
  }
}
