import { useId } from 'react';
import { Checkbox, FieldError, Input, Label, Text, TextArea, TextField } from 'react-aria-components';
import { fieldsOf, variants, humanize, type FieldSpec, type JsonSchema, type RawValues } from './schema-form';

/** A labelled native select: keyboard, screen readers and mobile pickers work without extra code. */
export function SelectField({ label, value, options, onChange, description, error, name }: { label: string; value: string; options: { value: string; label: string }[]; onChange: (v: string) => void; description?: string; error?: string; name?: string }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} name={name} className="select-native" value={value} onChange={(e) => onChange(e.target.value)} aria-invalid={error ? true : undefined} aria-describedby={[description ? `${id}-d` : '', error ? `${id}-e` : ''].filter(Boolean).join(' ') || undefined}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      {description && (
        <span id={`${id}-d`} className="field-description">
          {description}
        </span>
      )}
      {error && (
        <span id={`${id}-e`} className="field-error">
          {error}
        </span>
      )}
    </div>
  );
}

function SchemaField({ field, value, onChange, error, secretPlaceholder }: { field: FieldSpec; value: string | boolean | undefined; onChange: (v: string | boolean) => void; error?: string; secretPlaceholder?: string }) {
  const label = field.required ? `${field.label} (required)` : field.label;
  if (field.kind === 'boolean') {
    return (
      <div className="field">
        <Checkbox className="checkbox" isSelected={value === true} onChange={onChange} name={field.name}>
          <span className="checkbox-box" aria-hidden="true" />
          <span>
            {field.label}
            {field.description && <span className="field-description"> — {field.description}</span>}
          </span>
        </Checkbox>
        {error && <span className="field-error">{error}</span>}
      </div>
    );
  }
  if (field.kind === 'enum') {
    return <SelectField label={label} name={field.name} value={String(value ?? '')} options={[...(field.required ? [] : [{ value: '', label: '(default)' }]), ...field.options!.map((o) => ({ value: o, label: o }))]} onChange={onChange} description={field.description} error={error} />;
  }
  const multiline = field.kind === 'list' || field.kind === 'json';
  const description = field.kind === 'list' ? `${field.description ? `${field.description}. ` : ''}One per line.` : field.kind === 'json' ? `${field.description ? `${field.description}. ` : ''}JSON.` : field.description;
  return (
    <TextField className="field" name={field.name} value={String(value ?? '')} onChange={onChange} isInvalid={Boolean(error)} validationBehavior="aria" type={field.kind === 'secret' ? 'password' : field.kind === 'url' ? 'url' : 'text'}>
      <Label>{label}</Label>
      {multiline ? <TextArea rows={field.kind === 'json' ? 4 : 3} className="textarea" /> : <Input inputMode={field.kind === 'number' || field.kind === 'integer' ? 'decimal' : undefined} autoComplete={field.kind === 'secret' ? 'new-password' : 'off'} placeholder={field.kind === 'secret' ? secretPlaceholder : undefined} />}
      {description && (
        <Text slot="description" className="field-description">
          {description}
        </Text>
      )}
      <FieldError className="field-error">{error}</FieldError>
    </TextField>
  );
}

/**
 * A form made from a JSON Schema (see schema-form.ts for what it covers). The caller owns the raw
 * values and the errors (browser checks and the server's field errors, by field name).
 */
export function SchemaForm({ legend, schema, values, onChange, errors = {}, secrets = false, secretPlaceholder }: { legend: string; schema: JsonSchema; values: RawValues; onChange: (v: RawValues) => void; errors?: Record<string, string>; secrets?: boolean; secretPlaceholder?: string }) {
  const v = variants(schema);
  const fields = fieldsOf(schema, values, { secrets });
  return (
    <fieldset className="schema-form">
      <legend>{legend}</legend>
      {v && (
        <SelectField
          label={humanize(v.key)}
          name={v.key}
          value={String(values[v.key] ?? v.options[0]!.value)}
          options={v.options.map((o) => ({ value: o.value, label: o.value }))}
          onChange={(next) => onChange({ [v.key]: next })}
          error={errors[v.key]}
        />
      )}
      {fields.length === 0 && <p className="muted">Nothing to fill in.</p>}
      {fields.map((f) => (
        <SchemaField key={`${String(values[v?.key ?? ''] ?? '')}:${f.name}`} field={f} value={values[f.name]} onChange={(next) => onChange({ ...values, [f.name]: next })} error={errors[f.name]} secretPlaceholder={secretPlaceholder} />
      ))}
    </fieldset>
  );
}
