export { analyze, CHEAP_FUNCTIONS, type ExpressionShape } from './analyze.js';
export { ExpressionLimitError, type ExpressionErrorCode } from './errors.js';
export { configureExpressionGuard, DEFAULT_EXPRESSION_LIMITS, expressionGuard, ExpressionGuard, type Compiled, type EvaluateOptions, type ExpressionLimits } from './guard.js';
