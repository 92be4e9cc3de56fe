/* auth.h — the handshake proofs of proto.txt ("Handshake"). A token never
 * crosses the wire: each side proves it knows the token by an HMAC-SHA256
 * over the other side's fresh nonce. Pure functions; thread-safe. */
#ifndef CLOUDAI_AUTH_H
#define CLOUDAI_AUTH_H
#include <stddef.h>
#include <stdint.h>
#include "proto.h"

/* HMAC-SHA256(token, "cloudai-v1|" role "|" node_id "|" master_nonce) */
void auth_peer_proof(const char *token, int role, const char *node_id,
                     const uint8_t master_nonce[PROTO_NONCE_LEN], uint8_t out[PROTO_PROOF_LEN]);
/* HMAC-SHA256(token, "cloudai-v1-master|" peer_nonce) */
void auth_master_proof(const char *token, const uint8_t peer_nonce[PROTO_NONCE_LEN],
                       uint8_t out[PROTO_PROOF_LEN]);
/* With TLS (proto.txt 7, "Binding to TLS"): both proofs cover the nonce
 * bound to the session, SHA-256("cloudai-v1-tls|" nonce binding), where
 * binding is the TLS exporter value (tls_binding). A relay terminating TLS
 * toward each side sees two different bindings, so it cannot pass a proof
 * from one session on to the other. */
void auth_bind_nonce(const uint8_t nonce[PROTO_NONCE_LEN], const uint8_t binding[32],
                     uint8_t out[PROTO_NONCE_LEN]);
#endif
