/* auth.c — handshake proofs (see auth.h and proto.txt). */
#include <stdio.h>
#include <string.h>
#include "auth.h"
#include "hash.h"

void auth_peer_proof(const char *token, int role, const char *node_id,
                     const uint8_t master_nonce[PROTO_NONCE_LEN], uint8_t out[PROTO_PROOF_LEN])
{
    uint8_t msg[16 + 64 + 8 + PROTO_NONCE_LEN];
    int n = snprintf((char *)msg, 16 + 64 + 8, "cloudai-v1|%d|%.64s|", role, node_id);
    memcpy(msg + n, master_nonce, PROTO_NONCE_LEN);
    hash_hmac_sha256(token, strlen(token), msg, (size_t)n + PROTO_NONCE_LEN, out);
}

void auth_bind_nonce(const uint8_t nonce[PROTO_NONCE_LEN], const uint8_t binding[32],
                     uint8_t out[PROTO_NONCE_LEN])
{
    static const char tag[] = "cloudai-v1-tls|";
    uint8_t msg[sizeof tag - 1 + PROTO_NONCE_LEN + 32];
    memcpy(msg, tag, sizeof tag - 1);
    memcpy(msg + sizeof tag - 1, nonce, PROTO_NONCE_LEN);
    memcpy(msg + sizeof tag - 1 + PROTO_NONCE_LEN, binding, 32);
    hash_sha256_buf(msg, sizeof msg, out);
}

void auth_master_proof(const char *token, const uint8_t peer_nonce[PROTO_NONCE_LEN],
                       uint8_t out[PROTO_PROOF_LEN])
{
    static const char tag[] = "cloudai-v1-master|";
    uint8_t msg[sizeof tag - 1 + PROTO_NONCE_LEN];
    memcpy(msg, tag, sizeof tag - 1);
    memcpy(msg + sizeof tag - 1, peer_nonce, PROTO_NONCE_LEN);
    hash_hmac_sha256(token, strlen(token), msg, sizeof msg, out);
}
