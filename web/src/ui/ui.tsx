import type { ReactNode } from 'react';
import {
  Button as AriaButton,
  type ButtonProps,
  FieldError,
  Input,
  Label,
  Text,
  TextField,
  type TextFieldProps,
} from 'react-aria-components';
import { ApiError } from '../api/client';

export function Button({ variant = 'primary', ...props }: ButtonProps & { variant?: 'primary' | 'secondary' | 'danger' }) {
  return <AriaButton {...props} className={`btn btn-${variant}`} />;
}

/** A labelled text input; `error` (from the API's field errors) shows beside the field and marks it invalid. */
export function Field({ label, description, error, ...props }: TextFieldProps & { label: string; description?: string; error?: string }) {
  return (
    <TextField {...props} className="field" isInvalid={Boolean(error) || props.isInvalid} validationBehavior="aria">
      <Label>{label}</Label>
      <Input />
      {description && <Text slot="description" className="field-description">{description}</Text>}
      <FieldError className="field-error">{error}</FieldError>
    </TextField>
  );
}

/** Shows what went wrong: the problem's detail and its field paths, never a stack trace. */
export function ErrorMessage({ error }: { error: unknown }) {
  if (!error) return null;
  const problem = error instanceof ApiError ? error.problem : null;
  return (
    <div role="alert" className="alert alert-error">
      <strong>{problem?.title ?? 'Something went wrong'}</strong>
      {problem?.detail && <p>{problem.detail}</p>}
      {!problem && error instanceof Error && <p>{error.message}</p>}
      {problem?.errors && problem.errors.length > 0 && (
        <ul>
          {problem.errors.map((e) => (
            <li key={e.path}>
              <code>{e.path}</code>: {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

/** An empty state that teaches the next step. */
export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {children}
    </div>
  );
}

export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-header">
        <h1 id="page-title">{title}</h1>
        {actions && <div className="page-actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

export function Card({ title, children }: { title?: string; children: ReactNode }) {
  return (
    <div className="card">
      {title && <h2 className="card-title">{title}</h2>}
      {children}
    </div>
  );
}

/** Shows a value the user must copy now (a token shown once), with a copy button. */
export function OnceSecret({ label, value }: { label: string; value: string }) {
  return (
    <div className="alert alert-success" role="status">
      <strong>{label}</strong>
      <p>Copy it now: it will not be shown again.</p>
      <code className="secret">{value}</code>{' '}
      <Button variant="secondary" onPress={() => void navigator.clipboard?.writeText(value)}>
        Copy
      </Button>
    </div>
  );
}
