// Hand-written: only types that diesel's MultiConnection supports on both backends.
// Keep in step with migrations/sqlite and migrations/postgres.

diesel::table! {
    orgs (id) {
        id -> Text,
        slug -> Text,
        created_at -> Timestamp,
        bootstrapped_at -> Nullable<Timestamp>,
        leak_policy -> Text,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        org_id -> Text,
        alg -> Text,
        public_jwk -> Text,
        private_sealed -> Binary,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        unpublish_at -> Nullable<Timestamp>,
        activates_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        org_id -> Text,
        name -> Text,
        name_folded -> Text,
        secret_digest -> Binary,
        secret_hint -> Text,
        scopes -> Text,
        allowed_cidrs -> Text,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        previous_secret_digest -> Nullable<Binary>,
        previous_secret_expires_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        secret_generation -> Integer,
        attributes -> Text,
        leaked_at -> Nullable<Timestamp>,
        kind -> Text,
        parent_key_id -> Nullable<Text>,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        org_id -> Text,
        expires_at -> Timestamp,
        revoked_at -> Timestamp,
    }
}

diesel::table! {
    usage_hourly (key_id, bucket) {
        key_id -> Text,
        org_id -> Text,
        bucket -> Timestamp,
        tokens_issued -> BigInt,
        requests -> BigInt,
        denied_bad_secret -> BigInt,
        denied_revoked -> BigInt,
        denied_expired -> BigInt,
        denied_ip_not_allowed -> BigInt,
        denied_scope_not_allowed -> BigInt,
        denied_rate_limited -> BigInt,
        denied_quota_exhausted -> BigInt,
        tokens_private_key_jwt -> BigInt,
        tokens_federated -> BigInt,
    }
}

diesel::table! {
    usage_daily (key_id, bucket) {
        key_id -> Text,
        org_id -> Text,
        bucket -> Timestamp,
        tokens_issued -> BigInt,
        requests -> BigInt,
        denied_bad_secret -> BigInt,
        denied_revoked -> BigInt,
        denied_expired -> BigInt,
        denied_ip_not_allowed -> BigInt,
        denied_scope_not_allowed -> BigInt,
        denied_rate_limited -> BigInt,
        denied_quota_exhausted -> BigInt,
        tokens_private_key_jwt -> BigInt,
        tokens_federated -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        org_id -> Text,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        target -> Text,
        ip -> Nullable<Text>,
        details -> Text,
        actor_session -> Nullable<Text>,
    }
}

diesel::table! {
    change_log (seq) {
        seq -> BigInt,
        kind -> Text,
        subject -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    key_quotas (key_id) {
        key_id -> Text,
        remaining -> BigInt,
        generation -> BigInt,
        refilled_at -> Timestamp,
        period_credits -> BigInt,
    }
}

diesel::table! {
    quota_alerts (key_id, generation, kind) {
        key_id -> Text,
        generation -> BigInt,
        kind -> Text,
        produced_at -> Timestamp,
    }
}

diesel::table! {
    quota_leases (key_id, node_id) {
        key_id -> Text,
        node_id -> Text,
        generation -> BigInt,
        amount -> BigInt,
    }
}

diesel::table! {
    rate_windows (key_id, name, window_seconds, window_start) {
        key_id -> Text,
        name -> Text,
        window_seconds -> BigInt,
        window_start -> BigInt,
        granted -> BigInt,
    }
}

diesel::table! {
    nodes (node_id) {
        node_id -> Text,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    assertion_jtis (digest) {
        digest -> Text,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(api_keys -> orgs (org_id));
diesel::joinable!(signing_keys -> orgs (org_id));
diesel::joinable!(revoked_tokens -> orgs (org_id));
diesel::joinable!(usage_hourly -> api_keys (key_id));
diesel::joinable!(usage_daily -> api_keys (key_id));
diesel::table! {
    webhooks (id) {
        id -> Text,
        org_id -> Text,
        url -> Text,
        description -> Text,
        events -> Text,
        secret_sealed -> Binary,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        failing_since -> Nullable<Timestamp>,
        disabled_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> Text,
        event_id -> Text,
        event_type -> Text,
        ordering_key -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        last_attempt_at -> Nullable<Timestamp>,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        delivered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    expiry_warnings (key_id, expires_at, threshold_seconds) {
        key_id -> Text,
        expires_at -> Timestamp,
        threshold_seconds -> BigInt,
        produced_at -> Timestamp,
    }
}

diesel::joinable!(audit_events -> orgs (org_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::allow_tables_to_appear_in_same_query!(
    change_log,
    webhooks,
    webhook_deliveries,
    expiry_warnings,
    audit_events,
    usage_hourly,
    usage_daily,
    orgs,
    api_keys,
    signing_keys,
    revoked_tokens,
    key_quotas,
    quota_alerts,
    quota_leases,
    rate_windows,
    nodes,
    assertion_jtis
);
