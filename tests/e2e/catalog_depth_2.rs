//! The operations added to Google Calendar, Google Sheets, Twilio, Postmark, SendGrid,
//! Mailgun and FHIR: for each, a step written in plain words compiles to it, and a
//! sandbox run shows the request it would have sent (method and URL).

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::TestApp;
use crate::compile::{add, compile_step as compile};

/// One step in plain words and what it must become.
struct Case {
    instruction: &'static str,
    entity: Value,
    payload: Value,
    integration: &'static str,
    operation: &'static str,
    method: &'static str,
    url: &'static str,
}

/// The integrations every case can pick from, as a user would add them.
fn integrations() -> Vec<Value> {
    let google =
        json!({"client_id": "client", "client_secret": "secret", "refresh_token": "refresh"});
    vec![
        json!({"name": "clinic-calendar", "provider": "google_calendar", "credentials": google,
               "config": {"calendar_id": "primary", "send_updates": "all"}}),
        json!({"name": "intake-log", "provider": "google_sheets", "credentials": google,
               "config": {"spreadsheet_id": "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"}}),
        json!({"name": "clinic-sms", "provider": "twilio",
               "credentials": {"account_sid": "AC00000000000000000000000000000000", "auth_token": "0123456789abcdef0123456789abcdef"},
               "config": {"from_number": "+15005550006"}}),
        json!({"name": "clinic-mail", "provider": "postmark",
               "credentials": {"server_token": "00000000-0000-4000-8000-00000000c0de"},
               "config": {"from_address": "clinic@example.com"}}),
        json!({"name": "sendgrid", "provider": "sendgrid",
               "credentials": {"api_key": "SG.EXAMPLEEXAMPLEEXAMPLE.EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE"},
               "config": {"from_address": "clinic@example.com"}}),
        json!({"name": "mailgun", "provider": "mailgun",
               "credentials": {"api_key": "00000000000000000000000000000000-00000000-00000000"},
               "config": {"domain": "mg.example.com", "from_address": "Clinic <noreply@mg.example.com>"}}),
        json!({"name": "ehr", "provider": "fhir", "credentials": {"access_token": "EXAMPLE-NOT-A-REAL-TOKEN"},
               "config": {"base_url": "https://fhir.example.org/r4"}}),
    ]
}

fn entity(name: &str, fields: Value) -> Value {
    json!({"name": name, "fields": fields})
}

fn cases() -> Vec<Case> {
    let visit = || {
        entity(
            "Visit",
            json!({"patient_email": "email", "event_id": "string", "starts_at": "datetime", "ends_at": "datetime"}),
        )
    };
    let visit_payload = || {
        json!({"patient_email": "ada@example.com", "event_id": "4eahs9ghkhrvkld72hogu9ph3e",
               "starts_at": "2026-12-14T15:00:00Z", "ends_at": "2026-12-14T15:30:00Z"})
    };
    let order = || {
        entity(
            "Order",
            json!({"order_id": "string", "status": "string", "customer_email": "email"}),
        )
    };
    let order_payload = || json!({"order_id": "ord_1001", "status": "shipped", "customer_email": "ada@example.com"});
    let reminder = || {
        entity(
            "Reminder",
            json!({"patient_email": "email", "patient_phone": "phone", "message_sid": "string", "call_sid": "string", "bounce_id": "integer", "message_id": "string", "batch_id": "string"}),
        )
    };
    let reminder_payload = || {
        json!({"patient_email": "ada@example.com", "patient_phone": "+15558675310",
               "message_sid": "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "call_sid": "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
               "bounce_id": 692560173, "message_id": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
               "batch_id": "HkJ5yLYULb7Rj8GKSx7u025ouWVlMgAi"})
    };
    let text = || {
        entity(
            "Text",
            json!({"patient_phone": "phone", "message_sid": "string", "call_sid": "string"}),
        )
    };
    let text_payload = || {
        json!({"patient_phone": "+15558675310", "message_sid": "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
               "call_sid": "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    };
    let patient = || {
        entity(
            "Registration",
            json!({"patient_id": "string", "mrn": "string", "first_name": "string", "last_name": "string", "email": "email"}),
        )
    };
    let patient_payload = || {
        json!({"patient_id": "example", "mrn": "12345", "first_name": "Peter", "last_name": "Chalmers",
               "email": "peter@example.com"})
    };
    let appointment = || {
        entity(
            "Appointment",
            json!({"appointment_id": "string", "patient_email": "email"}),
        )
    };
    let appointment_payload =
        || json!({"appointment_id": "appt-2001", "patient_email": "ada@example.com"});
    let case =
        |instruction, (entity, payload): (Value, Value), integration, operation, method, url| {
            Case {
                instruction,
                entity,
                payload,
                integration,
                operation,
                method,
                url,
            }
        };
    vec![
        // Google Calendar
        case(
            "When a visit is rescheduled, update the calendar event in clinic-calendar to the new time",
            (visit(), visit_payload()),
            "clinic-calendar",
            "update_event",
            "PATCH",
            "https://www.googleapis.com/calendar/v3/calendars/primary/events/4eahs9ghkhrvkld72hogu9ph3e?sendUpdates=all",
        ),
        case(
            "When a visit is cancelled, cancel the calendar event in clinic-calendar",
            (visit(), visit_payload()),
            "clinic-calendar",
            "cancel_event",
            "DELETE",
            "https://www.googleapis.com/calendar/v3/calendars/primary/events/4eahs9ghkhrvkld72hogu9ph3e?sendUpdates=all",
        ),
        case(
            "When a visit is confirmed, look up the calendar event in clinic-calendar",
            (visit(), visit_payload()),
            "clinic-calendar",
            "get_event",
            "GET",
            "https://www.googleapis.com/calendar/v3/calendars/primary/events/4eahs9ghkhrvkld72hogu9ph3e",
        ),
        case(
            "When a visit is requested, search the calendar for an event with the patient's email in clinic-calendar",
            (visit(), visit_payload()),
            "clinic-calendar",
            "search_events",
            "GET",
            "https://www.googleapis.com/calendar/v3/calendars/primary/events?orderBy=startTime&q=ada%40example.com&singleEvents=true&timeMax=2026-12-14T15%3A30%3A00Z&timeMin=2026-12-14T15%3A00%3A00Z",
        ),
        // Google Sheets
        case(
            "When an order is shipped, update the cells in the spreadsheet intake-log, range 'Orders!A2:C2', with the order",
            (order(), order_payload()),
            "intake-log",
            "update_values",
            "PUT",
            "https://sheets.googleapis.com/v4/spreadsheets/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/values/Orders%21A2%3AC2?valueInputOption=USER_ENTERED",
        ),
        case(
            "When an order is cancelled, clear the range 'Orders!A2:C2' in intake-log",
            (order(), order_payload()),
            "intake-log",
            "clear_values",
            "POST",
            "https://sheets.googleapis.com/v4/spreadsheets/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/values/Orders%21A2%3AC2:clear",
        ),
        case(
            "When an order is shipped, batch update the sheet values of range 'Orders!A2:C2' in intake-log",
            (order(), order_payload()),
            "intake-log",
            "batch_update_values",
            "POST",
            "https://sheets.googleapis.com/v4/spreadsheets/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/values:batchUpdate",
        ),
        case(
            "When an order is placed, list the tabs of the spreadsheet intake-log",
            (order(), order_payload()),
            "intake-log",
            "get_spreadsheet",
            "GET",
            "https://sheets.googleapis.com/v4/spreadsheets/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms?includeGridData=false",
        ),
        case(
            "When an order is placed, read several ranges at once from intake-log, range 'Orders!A1:C9'",
            (order(), order_payload()),
            "intake-log",
            "batch_get_values",
            "GET",
            "https://sheets.googleapis.com/v4/spreadsheets/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/values:batchGet?ranges=Orders%21A1%3AC9",
        ),
        // Twilio
        case(
            "When a text is checked, check the message delivery status in clinic-sms",
            (text(), text_payload()),
            "clinic-sms",
            "get_message",
            "GET",
            "https://api.twilio.com/2010-04-01/Accounts/[redacted]/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json",
        ),
        case(
            "When a text is checked, show the message history of the patient's phone in clinic-sms",
            (text(), text_payload()),
            "clinic-sms",
            "list_messages",
            "GET",
            "https://api.twilio.com/2010-04-01/Accounts/[redacted]/Messages.json?To=%2B15558675310",
        ),
        case(
            "When a text is cancelled, cancel the scheduled message in clinic-sms",
            (text(), text_payload()),
            "clinic-sms",
            "cancel_message",
            "POST",
            "https://api.twilio.com/2010-04-01/Accounts/[redacted]/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json",
        ),
        case(
            "When a text is checked, check whether the patient answered the call in clinic-sms",
            (text(), text_payload()),
            "clinic-sms",
            "get_call",
            "GET",
            "https://api.twilio.com/2010-04-01/Accounts/[redacted]/Calls/CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json",
        ),
        case(
            "When a text is cancelled, hang up on the patient's call in clinic-sms",
            (text(), text_payload()),
            "clinic-sms",
            "end_call",
            "POST",
            "https://api.twilio.com/2010-04-01/Accounts/[redacted]/Calls/CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json",
        ),
        // Postmark
        case(
            "When a reminder is checked, check the delivery status in postmark (clinic-mail)",
            (reminder(), reminder_payload()),
            "clinic-mail",
            "get_outbound_message",
            "GET",
            "https://api.postmarkapp.com/messages/outbound/0a129aee-e1cd-480d-b08d-4f48548ff48d/details",
        ),
        case(
            "When a reminder is checked, find the outbound messages sent to the patient in clinic-mail",
            (reminder(), reminder_payload()),
            "clinic-mail",
            "search_outbound_messages",
            "GET",
            "https://api.postmarkapp.com/messages/outbound?count=100&offset=0&recipient=ada%40example.com",
        ),
        case(
            "When a reminder is checked, list the bounces for the patient in clinic-mail",
            (reminder(), reminder_payload()),
            "clinic-mail",
            "list_bounces",
            "GET",
            "https://api.postmarkapp.com/bounces?count=100&emailFilter=ada%40example.com&messageID=0a129aee-e1cd-480d-b08d-4f48548ff48d&offset=0",
        ),
        case(
            "When a reminder is checked, reactivate the bounced address in clinic-mail",
            (reminder(), reminder_payload()),
            "clinic-mail",
            "activate_bounce",
            "PUT",
            "https://api.postmarkapp.com/bounces/692560173/activate",
        ),
        case(
            "When a reminder is cancelled, suppress the patient's address in clinic-mail",
            (reminder(), reminder_payload()),
            "clinic-mail",
            "suppress_recipients",
            "POST",
            "https://api.postmarkapp.com/message-streams/outbound/suppressions",
        ),
        // SendGrid
        case(
            "When a reminder is cancelled, unsubscribe the patient's address globally in sendgrid",
            (reminder(), reminder_payload()),
            "sendgrid",
            "add_global_unsubscribe",
            "POST",
            "https://api.sendgrid.com/v3/asm/suppressions/global",
        ),
        case(
            "When a reminder is cancelled, add the patient's address to the suppression group '1234' in sendgrid",
            (reminder(), reminder_payload()),
            "sendgrid",
            "add_group_unsubscribe",
            "POST",
            "https://api.sendgrid.com/v3/asm/groups/1234/suppressions",
        ),
        case(
            "When a reminder is checked, remove the patient's address from the bounce list in sendgrid",
            (reminder(), reminder_payload()),
            "sendgrid",
            "remove_bounce",
            "DELETE",
            "https://api.sendgrid.com/v3/suppression/bounces/ada%40example.com",
        ),
        case(
            "When a registration is created, add the contact to sendgrid marketing",
            (patient(), patient_payload()),
            "sendgrid",
            "upsert_contact",
            "PUT",
            "https://api.sendgrid.com/v3/marketing/contacts",
        ),
        case(
            "When a registration is created, look up the contact in sendgrid by email",
            (patient(), patient_payload()),
            "sendgrid",
            "search_contacts_by_email",
            "POST",
            "https://api.sendgrid.com/v3/marketing/contacts/search/emails",
        ),
        case(
            "When a reminder is cancelled, cancel the scheduled send in sendgrid",
            (reminder(), reminder_payload()),
            "sendgrid",
            "cancel_scheduled_send",
            "POST",
            "https://api.sendgrid.com/v3/user/scheduled_sends",
        ),
        // Mailgun
        case(
            "When a reminder is checked, get the delivery events for the patient from mailgun",
            (reminder(), reminder_payload()),
            "mailgun",
            "get_events",
            "GET",
            "https://api.mailgun.net/v3/mg.example.com/events?message-id=0a129aee-e1cd-480d-b08d-4f48548ff48d&recipient=ada%40example.com",
        ),
        case(
            "When a reminder is checked, get the mailgun bounce list",
            (reminder(), reminder_payload()),
            "mailgun",
            "list_bounces",
            "GET",
            "https://api.mailgun.net/v3/mg.example.com/bounces",
        ),
        case(
            "When a reminder is checked, remove the patient's address from the mailgun bounce list",
            (reminder(), reminder_payload()),
            "mailgun",
            "delete_bounce",
            "DELETE",
            "https://api.mailgun.net/v3/mg.example.com/bounces/ada%40example.com",
        ),
        case(
            "When a reminder is cancelled, unsubscribe the patient's address in mailgun",
            (reminder(), reminder_payload()),
            "mailgun",
            "add_unsubscribe",
            "POST",
            "https://api.mailgun.net/v3/mg.example.com/unsubscribes",
        ),
        case(
            "When a reminder is confirmed, resubscribe the patient's address in mailgun",
            (reminder(), reminder_payload()),
            "mailgun",
            "delete_unsubscribe",
            "DELETE",
            "https://api.mailgun.net/v3/mg.example.com/unsubscribes/ada%40example.com",
        ),
        case(
            "When a registration is created, subscribe the patient to the mailing list 'newsletter@mg.example.com' in mailgun",
            (patient(), patient_payload()),
            "mailgun",
            "add_list_member",
            "POST",
            "https://api.mailgun.net/v3/lists/newsletter%40mg.example.com/members",
        ),
        // FHIR
        case(
            "When an appointment is cancelled, patch the appointment in the ehr setting its status to 'cancelled'",
            (appointment(), appointment_payload()),
            "ehr",
            "patch_resource",
            "PATCH",
            "https://fhir.example.org/r4/Appointment/appt-2001",
        ),
        case(
            "When a registration is created, send a transaction bundle to the ehr for the patient",
            (patient(), patient_payload()),
            "ehr",
            "transaction",
            "POST",
            // [base] itself: R4's Service Base URL has no trailing slash.
            "https://fhir.example.org/r4",
        ),
        case(
            "When a registration is updated, get the history of the patient record from the ehr",
            (patient(), patient_payload()),
            "ehr",
            "read_history",
            "GET",
            "https://fhir.example.org/r4/Patient/example/_history",
        ),
    ]
}

async fn sandbox_run(app: &TestApp, p: &str, token: &str, workflow: &str, trigger: Value) -> Value {
    let run = app
        .call(
            Method::POST,
            &format!("/projects/{p}/runs"),
            Some(token),
            Some(json!({"workflow": workflow, "mode": "sandbox", "trigger": trigger})),
        )
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.body);
    run.body
}

#[tokio::test]
async fn each_new_operation_is_picked_by_plain_words_and_would_send_its_request() {
    let app = TestApp::new();
    let (p, token) = app.project("clinic").await;
    for body in integrations() {
        add(&app, &p, &token, body).await;
    }
    let mut wrong = Vec::new();
    for (n, case) in cases().into_iter().enumerate() {
        let workflow = format!("depth-{n}");
        let contract = compile(
            &app,
            &p,
            &token,
            &workflow,
            json!({"instruction": case.instruction, "entity": case.entity}),
        )
        .await;
        if contract.status != StatusCode::CREATED {
            wrong.push(format!(
                "{}: not compiled: {}",
                case.instruction, contract.body
            ));
            continue;
        }
        let picked = (
            contract.body["integration"].as_str().unwrap_or_default(),
            contract.body["operation"].as_str().unwrap_or_default(),
        );
        if picked != (case.integration, case.operation) {
            wrong.push(format!("{}: picked {picked:?}", case.instruction));
            continue;
        }
        let trigger = json!({"entity": contract.body["trigger"]["entity"],
                             "event": contract.body["trigger"]["event"],
                             "payload": case.payload});
        let run = sandbox_run(&app, &p, &token, &workflow, trigger).await;
        let step = &run["steps"][0];
        let sent = (
            step["effect"].as_str().unwrap_or_default(),
            step["request"]["method"].as_str().unwrap_or_default(),
            step["request"]["url"].as_str().unwrap_or_default(),
        );
        if run["status"] != "succeeded" || sent != ("would_have_sent", case.method, case.url) {
            wrong.push(format!(
                "{}: sent {sent:?}, mapping {}, run {}",
                case.instruction, contract.body["input_mapping"], run["status"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// R4 defines `family` for Patient and Practitioner, not for Encounter: a search that
/// mixes them is refused by the input schema before anything is sent.
#[test]
fn fhir_search_takes_only_the_parameters_r4_defines_for_the_type() {
    let catalog = shared::catalog::catalog().expect("catalog");
    let fhir = catalog.get("fhir").expect("fhir");
    let search = fhir
        .operations
        .iter()
        .find(|o| o.id.as_str() == "search_resources")
        .expect("search_resources");
    let validator = shared::catalog::schema_validator(&search.input_schema).expect("schema");
    for (input, valid) in [
        (
            json!({"resource_type": "Patient", "family": "Chalmers", "birthdate": "1974-12-25"}),
            true,
        ),
        (
            json!({"resource_type": "Encounter", "patient": "Patient/example", "status": "in-progress"}),
            true,
        ),
        (
            json!({"resource_type": "Observation", "patient": "123", "code": "http://loinc.org|8867-4"}),
            true,
        ),
        (
            json!({"resource_type": "Encounter", "family": "Chalmers"}),
            false,
        ),
        (
            json!({"resource_type": "Encounter", "birthdate": "1974-12-25"}),
            false,
        ),
        (json!({"resource_type": "Patient", "patient": "123"}), false),
        (
            json!({"resource_type": "Practitioner", "birthdate": "1974-12-25"}),
            false,
        ),
        (
            json!({"resource_type": "Condition", "status": "active"}),
            false,
        ),
        (json!({"resource_type": "Appointment", "code": "x"}), false),
    ] {
        assert_eq!(validator.is_valid(&input), valid, "{input}");
    }
}
