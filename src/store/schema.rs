//! The one diesel schema for both backends. Only portable column types are used
//! (Text, BigInt, Integer, Double, Bool, Timestamp): see docs/decisions/0001.

diesel::table! {
    jurisdictions (id) {
        id -> Text,
        name -> Text,
        contact -> Text,
        key_service -> Text,
        utc_offset_minutes -> Integer,
        endpoint_type -> Text,
        updated_at -> Timestamp,
        near_meters -> Double,
        contact_retention_days -> Nullable<Integer>,
        media_retention_days -> Nullable<Integer>,
        data_license -> Nullable<Text>,
        language -> Text,
        citizen_updates -> Text,
        timezone -> Nullable<Text>,
    }
}

diesel::table! {
    services (jurisdiction_id, code) {
        jurisdiction_id -> Text,
        code -> Text,
        name -> Text,
        description -> Nullable<Text>,
        service_type -> Text,
        keywords -> Nullable<Text>,
        group_name -> Nullable<Text>,
        service_notice -> Nullable<Text>,
        expected_hours -> Nullable<Integer>,
        active -> Bool,
        updated_at -> Timestamp,
        share_contact -> Bool,
        public_precision_m -> Nullable<Double>,
        moderation -> Text,
    }
}

diesel::table! {
    service_attributes (jurisdiction_id, service_code, code) {
        jurisdiction_id -> Text,
        service_code -> Text,
        code -> Text,
        variable -> Bool,
        datatype -> Text,
        required -> Bool,
        datatype_description -> Nullable<Text>,
        position -> Integer,
        description -> Text,
        values_json -> Text,
        min_value -> Nullable<Double>,
        max_value -> Nullable<Double>,
        unit -> Nullable<Text>,
        label -> Nullable<Text>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        name -> Text,
        key_hash -> Text,
        kind -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        may_update -> Bool,
        jurisdiction_id -> Nullable<Text>,
        published -> Bool,
        rate_limit -> Nullable<Text>,
    }
}

diesel::table! {
    requests (id) {
        id -> BigInt,
        jurisdiction_id -> Text,
        service_code -> Text,
        status -> Text,
        detailed_status -> Text,
        status_notes -> Nullable<Text>,
        description -> Nullable<Text>,
        agency_responsible -> Nullable<Text>,
        service_notice -> Nullable<Text>,
        requested_at -> Timestamp,
        updated_at -> Timestamp,
        expected_at -> Nullable<Timestamp>,
        address -> Nullable<Text>,
        address_id -> Nullable<Text>,
        zipcode -> Nullable<Text>,
        lat -> Nullable<Double>,
        long -> Nullable<Double>,
        token -> Nullable<Text>,
        api_key_id -> Text,
        channel -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        device_id_hash -> Nullable<Text>,
        account_id -> Nullable<Text>,
        hidden -> Bool,
        moderation_state -> Text,
        department_code -> Nullable<Text>,
        routing_trace -> Nullable<Text>,
        priority -> Integer,
        duplicate_of -> Nullable<BigInt>,
        public_lat -> Nullable<Double>,
        public_long -> Nullable<Double>,
        entered_at -> Nullable<Timestamp>,
        entered_by -> Nullable<Text>,
        contact_consent -> Nullable<Bool>,
    }
}

diesel::table! {
    request_scans (id) {
        id -> Text,
        request_id -> BigInt,
        file_name -> Text,
        content_type -> Text,
        byte_size -> BigInt,
        uploaded_by -> Text,
        uploaded_at -> Timestamp,
    }
}

diesel::table! {
    translations (jurisdiction_id, scope, locale, item) {
        jurisdiction_id -> Text,
        scope -> Text,
        locale -> Text,
        item -> Text,
        text -> Text,
    }
}

diesel::table! {
    request_attributes (request_id, code, position) {
        request_id -> BigInt,
        code -> Text,
        position -> Integer,
        value -> Text,
    }
}

diesel::table! {
    request_media (id) {
        id -> Text,
        request_id -> BigInt,
        position -> Integer,
        external_url -> Nullable<Text>,
        file_name -> Nullable<Text>,
        content_type -> Nullable<Text>,
        byte_size -> Nullable<BigInt>,
    }
}

diesel::table! {
    idempotency_keys (api_key_id, idem_key) {
        api_key_id -> Text,
        idem_key -> Text,
        request_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    departments (jurisdiction_id, code) {
        jurisdiction_id -> Text,
        code -> Text,
        name -> Text,
        emails_json -> Text,
        fallback_email -> Nullable<Text>,
        active -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    areas (jurisdiction_id, code) {
        jurisdiction_id -> Text,
        code -> Text,
        name -> Text,
        layer -> Text,
        parent_code -> Nullable<Text>,
        geometry -> Text,
        min_lon -> Double,
        min_lat -> Double,
        max_lon -> Double,
        max_lat -> Double,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    routing_rules (jurisdiction_id, id) {
        jurisdiction_id -> Text,
        id -> Text,
        service_code -> Nullable<Text>,
        service_group -> Nullable<Text>,
        area_code -> Nullable<Text>,
        department_code -> Text,
        priority -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    deliveries (id) {
        id -> Text,
        request_id -> BigInt,
        department_code -> Text,
        recipient -> Text,
        is_fallback -> Bool,
        state -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        message_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    request_events (id) {
        id -> Text,
        request_id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        detail -> Nullable<Text>,
        public -> Bool,
        status -> Nullable<Text>,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    request_areas (request_id, area_code) {
        request_id -> BigInt,
        area_code -> Text,
    }
}

diesel::table! {
    jurisdiction_statuses (jurisdiction_id, code) {
        jurisdiction_id -> Text,
        code -> Text,
        name -> Text,
        closed -> Bool,
        position -> Integer,
        description -> Nullable<Text>,
        fms -> Nullable<Text>,
        from_fms -> Nullable<Text>,
        initial -> Bool,
    }
}

diesel::table! {
    update_contacts (event_id) {
        event_id -> Text,
        request_id -> BigInt,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
    }
}

diesel::table! {
    staff_users (id) {
        id -> Text,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        role -> Text,
        jurisdiction_id -> Nullable<Text>,
        departments_json -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    staff_sessions (id) {
        id -> Text,
        user_id -> Text,
        refresh_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        client_addr -> Nullable<Text>,
    }
}

diesel::table! {
    staff_spent_refresh (refresh_hash) {
        refresh_hash -> Text,
        session_id -> Text,
        spent_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        target -> Nullable<Text>,
        detail -> Nullable<Text>,
        client_addr -> Nullable<Text>,
    }
}

diesel::table! {
    catalog_version (id) {
        id -> Integer,
        version -> BigInt,
    }
}

diesel::joinable!(deliveries -> requests (request_id));
diesel::joinable!(request_events -> requests (request_id));
diesel::joinable!(request_attributes -> requests (request_id));
diesel::joinable!(request_media -> requests (request_id));
diesel::allow_tables_to_appear_in_same_query!(
    jurisdictions,
    services,
    service_attributes,
    api_keys,
    requests,
    request_attributes,
    request_media,
    idempotency_keys,
    departments,
    areas,
    routing_rules,
    deliveries,
    request_events,
    staff_users,
    staff_sessions,
    staff_spent_refresh,
    audit_log,
    jurisdiction_statuses,
    request_areas,
    catalog_version,
    request_scans,
    translations,
    update_contacts,
);
