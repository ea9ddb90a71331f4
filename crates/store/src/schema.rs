// The tables of both backends. Checked against the migrated databases by tests/schema.rs.

diesel::table! {
    api_keys (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        prefix -> Text,
        key_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        org_id -> Text,
    }
}

diesel::table! {
    usage_events (id) {
        id -> Int8,
        org_id -> Text,
        user_id -> Text,
        key_id -> Nullable<Text>,
        model_key -> Text,
        upstream_model -> Text,
        endpoint -> Text,
        stream -> Bool,
        prompt_tokens -> Int8,
        completion_tokens -> Int8,
        cached_tokens -> Int8,
        cost -> Nullable<Float8>,
        latency_ms -> Int8,
        ttft_ms -> Nullable<Int8>,
        status -> Int4,
        at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Int8,
        org_id -> Nullable<Text>,
        entity -> Text,
        entity_id -> Text,
        actor_id -> Nullable<Text>,
        dialect -> Text,
        action -> Text,
        before_state -> Nullable<Text>,
        after_state -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    endpoints (id) {
        id -> Text,
        org_id -> Text,
        name -> Text,
        slug -> Text,
        description -> Text,
        model_seq -> Nullable<Int8>,
        owner_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        summary -> Text,
        response_type -> Text,
        published -> Bool,
        tags -> Text,
        system_prompt -> Nullable<Text>,
    }
}

diesel::table! {
    group_members (org_id, group_id, user_id) {
        org_id -> Text,
        group_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    model_grants (model_seq, principal_type, principal_id, permission) {
        model_seq -> Int8,
        principal_type -> Text,
        principal_id -> Text,
        permission -> Text,
        position -> Int4,
    }
}

diesel::table! {
    identity_version (id) {
        id -> Int8,
        version -> Int8,
    }
}

diesel::table! {
    registry_stamp (id) {
        id -> Int8,
        stamp -> Int8,
    }
}

diesel::table! {
    model_counts (org_id, source) {
        org_id -> Text,
        source -> Text,
        total -> Int8,
    }
}

diesel::table! {
    models (seq) {
        seq -> Int8,
        uuid -> Text,
        org_id -> Nullable<Text>,
        key -> Text,
        source -> Text,
        owner_id -> Nullable<Text>,
        display_name -> Nullable<Text>,
        description -> Nullable<Text>,
        tags -> Text,
        provider -> Nullable<Text>,
        provider_ref -> Nullable<Int8>,
        base_model -> Nullable<Text>,
        category -> Nullable<Text>,
        base_url -> Nullable<Text>,
        api_key_enc -> Nullable<Text>,
        api_key_mask -> Nullable<Text>,
        params -> Text,
        capabilities -> Nullable<Text>,
        input_cost -> Nullable<Float8>,
        output_cost -> Nullable<Float8>,
        cache_hit_input_cost -> Nullable<Float8>,
        cache_creation_input_cost -> Nullable<Float8>,
        context_window -> Nullable<Int8>,
        dimension -> Nullable<Int8>,
        supported_params_override -> Nullable<Text>,
        extra -> Text,
        is_active -> Bool,
        public_read -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Int8,
    }
}

diesel::table! {
    orgs (seq) {
        seq -> Int8,
        id -> Text,
        name -> Text,
        is_root -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    providers (seq) {
        seq -> Int8,
        org_id -> Text,
        provider_id -> Text,
        name -> Text,
        api_key_enc -> Nullable<Text>,
        api_key_mask -> Nullable<Text>,
        extra -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Int8,
        owner_id -> Nullable<Text>,
        extra_secrets -> Text,
    }
}

diesel::table! {
    user_defaults (org_id, user_id, config_type) {
        user_id -> Text,
        config_type -> Text,
        model_seq -> Int8,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        id -> Int8,
        org_id -> Text,
    }
}

diesel::table! {
    user_groups (org_id, id) {
        org_id -> Text,
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (org_id, id) {
        id -> Text,
        org_id -> Text,
        name -> Text,
        email -> Nullable<Text>,
        role -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        seq -> Int8,
    }
}

diesel::joinable!(model_grants -> models (model_seq));
diesel::joinable!(endpoints -> models (model_seq));
diesel::joinable!(user_defaults -> models (model_seq));

// Rows point at users by (org_id, user_id): joins to users spell that out with `on`.
diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_events,
    endpoints,
    usage_events,
    group_members,
    model_counts,
    model_grants,
    models,
    orgs,
    providers,
    user_defaults,
    user_groups,
    users,
);
