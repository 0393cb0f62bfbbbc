import { useEffect, useState } from 'react';
import { Checkbox, FieldError, Input, Label, ListBox, ListBoxItem, Popover, Select, SelectValue, Text, TextArea, TextField, Button as AriaButton } from 'react-aria-components';
import type { JsonSchema } from './stepTypes';
import { fieldKind, parseLooseJson, showLooseJson } from './schemaFields';

interface Props {
  schema: JsonSchema;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  /** Messages by property name (from the server's field paths or local checks). */
  errors?: Record<string, string>;
  /** Choices for `format: step-id` properties. */
  stepIds?: string[];
  /** Distinguishes the labels of two forms on one page. */
  idPrefix: string;
}

/**
 * A form generated from a JSON Schema object (the subset step types use): strings (enum → select,
 * expression formats → multi-line), numbers and integers (an =expression allowed), booleans, and
 * anything else as JSON. Unknown keys already in the value are kept untouched.
 */
export function SchemaForm({ schema, value, onChange, errors = {}, stepIds = [], idPrefix }: Props) {
  const props = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const set = (key: string, v: unknown) => {
    const next = { ...value };
    if (v === undefined) delete next[key];
    else next[key] = v;
    onChange(next);
  };
  if (props.length === 0) return <p className="muted">This step has no settings.</p>;
  return (
    <div className="stack schema-form">
      {props.map(([key, prop]) => (
        <SchemaField
          key={`${idPrefix}.${key}`}
          name={key}
          prop={prop}
          required={required.has(key)}
          value={value[key]}
          error={errors[key]}
          stepIds={stepIds}
          onChange={(v) => set(key, v)}
        />
      ))}
      {errors.with && (
        <p className="field-error" role="alert">
          {errors.with}
        </p>
      )}
    </div>
  );
}

function SchemaField({ name, prop, required, value, error, stepIds, onChange }: { name: string; prop: JsonSchema; required: boolean; value: unknown; error: string | undefined; stepIds: string[]; onChange: (v: unknown) => void }) {
  const label = `${prop.title ?? name}${required ? ' (required)' : ''}`;
  const kind = fieldKind(prop);
  if (kind === 'boolean') {
    return (
      <div className="field">
        <Checkbox className="checkbox" isSelected={value === true} onChange={(v) => onChange(v)}>
          <span className="checkbox-box" aria-hidden="true" />
          <span>{label}</span>
        </Checkbox>
        {error && <span className="field-error">{error}</span>}
      </div>
    );
  }
  if (kind === 'enum' || kind === 'step-id') {
    const options = kind === 'enum' ? (prop.enum ?? []).map(String) : stepIds;
    const none = '__none';
    return (
      <Select className="field" selectedKey={typeof value === 'string' && value ? value : none} onSelectionChange={(k) => onChange(k === none ? undefined : String(k))} isInvalid={Boolean(error)} validationBehavior="aria">
        <Label>{label}</Label>
        <AriaButton className="select-button">
          <SelectValue />
          <span aria-hidden="true">▾</span>
        </AriaButton>
        {prop.description && <Text slot="description" className="field-description">{prop.description}</Text>}
        <FieldError className="field-error">{error}</FieldError>
        <Popover className="popover">
          <ListBox className="listbox">
            <ListBoxItem id={none} className="listbox-item" textValue="Default">
              {kind === 'enum' && prop.default !== undefined ? `Default (${String(prop.default)})` : 'Default'}
            </ListBoxItem>
            {options.map((o) => (
              <ListBoxItem key={o} id={o} className="listbox-item" textValue={o}>
                {o}
              </ListBoxItem>
            ))}
          </ListBox>
        </Popover>
      </Select>
    );
  }
  if (kind === 'json') return <JsonField label={label} description={prop.description} value={value} error={error} onChange={onChange} />;
  const multiline = kind === 'expression';
  const text = value === undefined || value === null ? '' : String(value);
  return (
    <TextField
      className="field"
      value={text}
      onChange={(t) => {
        if (t === '') return onChange(undefined);
        if (kind === 'number' && /^-?\d+(\.\d+)?$/.test(t.trim())) return onChange(Number(t.trim()));
        onChange(t);
      }}
      isInvalid={Boolean(error)}
      validationBehavior="aria"
    >
      <Label>{label}</Label>
      {multiline ? <TextArea rows={3} spellCheck={false} className="code-input" /> : <Input spellCheck={false} inputMode={kind === 'number' ? 'text' : undefined} />}
      {prop.description && <Text slot="description" className="field-description">{prop.description}</Text>}
      <FieldError className="field-error">{error}</FieldError>
    </TextField>
  );
}

/** JSON values edited as text; applied when the text parses (a leading = keeps it an expression string). */
function JsonField({ label, description, value, error, onChange }: { label: string; description: string | undefined; value: unknown; error: string | undefined; onChange: (v: unknown) => void }) {
  const [text, setText] = useState(() => showLooseJson(value));
  const [local, setLocal] = useState<string | null>(null);
  useEffect(() => {
    // A change from outside (the JSON view, another version) replaces what is shown.
    setText((current) => {
      const parsed = parseLooseJson(current);
      return parsed.ok && JSON.stringify(parsed.value) === JSON.stringify(value) ? current : showLooseJson(value);
    });
  }, [value]);
  return (
    <TextField
      className="field"
      value={text}
      onChange={(t) => {
        setText(t);
        const parsed = parseLooseJson(t);
        if (parsed.ok) {
          setLocal(null);
          onChange(parsed.value);
        } else setLocal(parsed.error);
      }}
      isInvalid={Boolean(error ?? local)}
      validationBehavior="aria"
    >
      <Label>{label}</Label>
      <TextArea rows={3} spellCheck={false} className="code-input" />
      <Text slot="description" className="field-description">
        {description ? `${description}. ` : ''}JSON, or text starting with = for an expression.
      </Text>
      <FieldError className="field-error">{local ?? error}</FieldError>
    </TextField>
  );
}
