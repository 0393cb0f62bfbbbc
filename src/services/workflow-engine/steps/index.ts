import { z } from 'zod';
import { approvalStep } from './approval.js';
import { conditionStep } from './condition.js';
import { delayStep } from './delay.js';
import { emitStep } from './emit.js';
import { foreachStep } from './foreach.js';
import { httpStep } from './http.js';
import { integrationStep } from './integration.js';
import { transformStep } from './transform.js';
import type { StepKind, StepModule } from './types.js';

export type { StepKind, StepModule } from './types.js';

/**
 * Every step type of the engine, one module each (`steps/<type>.ts`). A new type is its module and
 * one line here: validation on save, the executor, the OpenAPI document and GET
 * /v1/workflow-step-types all read this registry.
 */
export const STEP_MODULES: readonly StepModule[] = [httpStep, integrationStep, transformStep, conditionStep, delayStep, approvalStep, emitStep, foreachStep];

/** Registries other than the engine's own (tests) are built with this. */
export class StepRegistry {
  private readonly byType: Map<string, StepModule>;
  constructor(readonly modules: readonly StepModule[]) {
    this.byType = new Map(modules.map((m) => [m.type, m]));
    if (this.byType.size !== modules.length) throw new Error('two step modules declare the same type');
  }
  get(type: string): StepModule | undefined {
    return this.byType.get(type);
  }
  /** The module of a type known to be registered (a saved definition's step). */
  of(type: string): StepModule {
    const m = this.byType.get(type);
    if (!m) throw new Error(`unknown step type "${type}"`);
    return m;
  }
  types(): [string, ...string[]] {
    return this.modules.map((m) => m.type) as [string, ...string[]];
  }
}

export const stepRegistry = new StepRegistry(STEP_MODULES);

const jsonSchema = (s: z.ZodType) => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
};

/** One entry of GET /v1/workflow-step-types: what an editor needs to render a step's form. */
export interface StepTypeInfo {
  type: string;
  kind: StepKind;
  title: string;
  description: string;
  withSchema: Record<string, unknown>;
  example: Record<string, unknown>;
}

export function stepTypeCatalog(registry: StepRegistry = stepRegistry): StepTypeInfo[] {
  return registry.modules.map((m) => ({ type: m.type, kind: m.kind, title: m.title, description: m.description, withSchema: jsonSchema(m.with), example: m.example }));
}
