/**
 * Reading EbpfMap manifests from YAML text (one file may hold several documents). Each problem
 * is reported with the file, the document and, for YAML syntax, the line — and never stops the
 * other documents from being read.
 */
import { LineCounter, parseAllDocuments } from "yaml";
import { KIND, type EbpfMap, type EbpfMapSpec } from "./schema.js";
import { formatFieldErrors, validateEbpfMapObject, type FieldError } from "./validate.js";

export const DEFAULT_NAMESPACE = "default";

/** The identity of a resource: what pins, metrics and status are keyed by. */
export interface ResourceRef {
  namespace: string;
  name: string;
}

export function refKey(ref: ResourceRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export interface ManifestProblem {
  source: string;
  /** 0-based index of the YAML document in the file. */
  document: number;
  /** 1-based line, when the problem has one. */
  line?: number;
  /** The resource, when the document says which one it is. */
  ref?: ResourceRef;
  code: "EOP_ERR_MANIFEST_YAML" | "EOP_ERR_MANIFEST_INVALID" | "EOP_ERR_MANIFEST_DUPLICATE";
  message: string;
  fieldErrors?: FieldError[];
}

/**
 * What the agent needs of a resource, whichever its source: a parsed file (EbpfMap) or an object
 * from the API server (its status carries the published object). Both fit without a cast.
 */
export interface DesiredResource {
  metadata: { name: string; namespace?: string; generation?: number };
  spec: EbpfMapSpec;
  status?: unknown;
}

/** One resource the agent is to run, and where it was declared (a file, or "kubernetes"). */
export interface Desired {
  source: string;
  ref: ResourceRef;
  resource: DesiredResource;
}

export interface ParsedManifest extends Desired {
  document: number;
  resource: EbpfMap;
}

export interface ParseResult {
  resources: ParsedManifest[];
  problems: ManifestProblem[];
  /** Documents of other kinds, skipped. */
  skipped: { document: number; kind: string }[];
}

export function parseManifests(text: string, source: string): ParseResult {
  const result: ParseResult = { resources: [], problems: [], skipped: [] };
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter });
  // parseAllDocuments returns an EmptyStream for empty input.
  if (!Array.isArray(documents)) return result;
  documents.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      const first = doc.errors[0]!;
      const line = lineCounter.linePos(first.pos[0]).line;
      result.problems.push({
        source,
        document: index,
        line,
        code: "EOP_ERR_MANIFEST_YAML",
        message: `${source}: document ${index + 1}, line ${line}: invalid YAML: ${first.message.split("\n")[0]}`,
      });
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const identity = identify(value);
    // Other kinds may share the directory (a Namespace, say): skip them. A wrong apiVersion on
    // an EbpfMap is reported by the schema.
    if (identity.kind !== KIND) {
      result.skipped.push({ document: index, kind: identity.kind ?? "(no kind)" });
      return;
    }
    const validation = validateEbpfMapObject(value);
    if (!validation.ok) {
      result.problems.push({
        source,
        document: index,
        ref: identity.ref,
        code: "EOP_ERR_MANIFEST_INVALID",
        message: `${source}: document ${index + 1}${identity.ref ? ` (EbpfMap "${identity.ref.namespace}/${identity.ref.name}")` : ""}: ${formatFieldErrors(validation.errors)}`,
        fieldErrors: validation.errors,
      });
      return;
    }
    const resource = validation.value;
    result.resources.push({
      source,
      document: index,
      ref: { namespace: resource.metadata.namespace ?? DEFAULT_NAMESPACE, name: resource.metadata.name },
      resource,
    });
  });
  return result;
}

function identify(value: unknown): { kind?: string; ref?: ResourceRef } {
  if (typeof value !== "object" || value === null) return {};
  const object = value as Record<string, unknown>;
  const kind = typeof object.kind === "string" ? object.kind : undefined;
  const metadata = object.metadata as Record<string, unknown> | undefined;
  const name = typeof metadata?.name === "string" ? metadata.name : undefined;
  const namespace = typeof metadata?.namespace === "string" ? metadata.namespace : DEFAULT_NAMESPACE;
  return {
    kind,
    ref: name ? { namespace, name } : undefined,
  };
}
