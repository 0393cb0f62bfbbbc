/** Why a user expression was refused or stopped; the code is stable and shown to the user. */
export type ExpressionErrorCode =
  /** Not valid JSONata (or longer than the length limit when parsed). */
  | 'expression_invalid'
  /** Ran longer than its time limit; its worker was killed. */
  | 'expression_timeout'
  /** Its result, its source or its memory use exceeded the limit. */
  | 'expression_too_large'
  /** Nested or recursed deeper than the limit. */
  | 'expression_too_deep'
  /** The workspace has too many expressions waiting for an isolated worker: try again later. */
  | 'expression_busy'
  /** Could not be evaluated in process (the caller asked for the in-process path only). */
  | 'expression_needs_isolation'
  /** A runtime error of the expression itself (type mismatch, $error(), ...). */
  | 'expression_failed';

export class ExpressionLimitError extends Error {
  constructor(
    readonly code: ExpressionErrorCode,
    message: string,
  ) {
    // Bounded: an error message must never carry a huge value into logs or run records.
    super(message.length > 500 ? `${message.slice(0, 500)}…` : message);
    this.name = 'ExpressionLimitError';
  }
}
