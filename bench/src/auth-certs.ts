/** A CA and a serving certificate for `localhost`, made with the operator's own X.509 code. */
import { createCa, issueServingCertificate, type KeyPair } from "../../packages/operator/src/serving/certificates.js";

export async function issueServingCertificateForBench(): Promise<{ ca: string; leaf: KeyPair }> {
  const now = new Date();
  const ca = await createCa("bench-ca", now, 3600_000);
  return { ca: ca.cert, leaf: await issueServingCertificate(ca, ["localhost"], now, 3600_000) };
}
