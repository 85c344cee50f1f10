import ssh2 from "ssh2";

type KeyPairOptions = Parameters<typeof ssh2.utils.generateKeyPairSync>[1];

/**
 * An ed25519 key pair ssh2 itself can read back. ssh2's generator writes a public key that starts with a zero byte
 * one byte short (about one key in 256), which its own parser then calls malformed: such keys are drawn again.
 */
export function ed25519KeyPair(options?: KeyPairOptions): { private: string; public: string } {
  for (;;) {
    const pair = options ? ssh2.utils.generateKeyPairSync("ed25519", options) : ssh2.utils.generateKeyPairSync("ed25519");
    const passphrase = options && "passphrase" in options ? options.passphrase : undefined;
    const parsed = ssh2.utils.parseKey(pair.private, passphrase);
    if (!(parsed instanceof Error) && !(ssh2.utils.parseKey(pair.public) instanceof Error)) return pair;
  }
}
