import { AppError } from '../../kernel/errors.js';
import type { ContractDirectory } from '../../kernel/module.js';
import type { IntegrationHubContract } from '../integration-hub/contract.js';

/**
 * The integration-hub contract, looked up on each use: the hub may be created after this service
 * in the same process, and without it nothing can be bound or published.
 */
export function hubOf(contracts: ContractDirectory): () => IntegrationHubContract {
  return () => {
    if (!contracts.has('integration-hub')) throw new AppError('service_unavailable', 'The integration-hub is not running in this process; channels cannot be bound or published');
    return contracts.get<IntegrationHubContract>('integration-hub');
  };
}
