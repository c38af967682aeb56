/**
 * Limits shared by the operator and the compile server. A module of its own, free of
 * @kubernetes/client-node, so the compile server can import it (cli.ts keeps that process small).
 */

/** ConfigMaps are limited to 1 MiB in total; leave room for metadata (shared/object-store.ts). */
export const MAX_OBJECT_BYTES = 1_000_000;
