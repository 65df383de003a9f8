//! The catalog's added operations (Stripe, HubSpot, Salesforce, Intercom, Slack, Notion,
//! Linear), each picked by a plain sentence and run in the sandbox: the operation chosen
//! and the request that would have been sent.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::TestApp;
use crate::compile::{add, compile_step as compile};

/// One sentence, the entity it runs on, and what it must become.
struct Case {
    words: &'static str,
    entity: Value,
    payload: Value,
    operation: &'static str,
    method: &'static str,
    /// The URL, up to any query string.
    url: &'static str,
}

/// Compiles each case on an integration made from `integration`, runs it in the sandbox
/// and returns the steps' requests (the operation and the method and URL asserted).
async fn run_cases(integration: Value, cases: Vec<Case>) -> Vec<Value> {
    let app = TestApp::new();
    let (p, token) = app.project("depth").await;
    add(&app, &p, &token, integration).await;
    let mut requests = Vec::new();
    for (n, case) in cases.into_iter().enumerate() {
        let workflow = format!("wf-{n}");
        let compiled = compile(
            &app,
            &p,
            &token,
            &workflow,
            json!({"instruction": case.words, "entity": case.entity}),
        )
        .await;
        assert_eq!(
            compiled.status,
            StatusCode::CREATED,
            "{}: {}",
            case.words,
            compiled.body
        );
        assert_eq!(
            compiled.body["operation"], case.operation,
            "{}: {}",
            case.words, compiled.body
        );
        let name = case.entity["name"].clone();
        let run = app
            .call(
                Method::POST,
                &format!("/projects/{p}/runs"),
                Some(&token),
                Some(json!({"workflow": workflow, "mode": "sandbox",
                            "trigger": {"entity": name, "event": "submitted", "payload": case.payload}})),
            )
            .await;
        assert_eq!(
            run.status,
            StatusCode::CREATED,
            "{}: {}",
            case.words,
            run.body
        );
        assert_eq!(
            run.body["status"], "succeeded",
            "{}: {}",
            case.words, run.body
        );
        let step = &run.body["steps"][0];
        assert_eq!(step["effect"], "would_have_sent", "{}: {step}", case.words);
        let request = step["request"].clone();
        assert_eq!(request["method"], case.method, "{}: {request}", case.words);
        let url = request["url"].as_str().unwrap_or_default();
        assert_eq!(
            url.split('?').next(),
            Some(case.url),
            "{}: {request}",
            case.words
        );
        requests.push(request);
    }
    requests
}

fn entity(name: &str, fields: Value) -> Value {
    json!({"name": name, "fields": fields})
}

#[tokio::test]
async fn stripe_payment_status_invoices_and_customer_updates_are_picked_from_plain_words() {
    let order = entity(
        "Order",
        json!({"payment_intent_id": "string", "customer_email": "email"}),
    );
    let account = entity(
        "Account",
        json!({"stripe_customer_id": "string", "email": "email"}),
    );
    let requests = run_cases(
        json!({"name": "billing", "provider": "stripe",
               "credentials": {"secret_key": "sk_test_abcdefghijklmnopqrstuvwx"}}),
        vec![
            Case {
                words: "When an order is submitted, check the payment status of its payment intent in Stripe",
                entity: order,
                payload: json!({"payment_intent_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "customer_email": "ada@example.com"}),
                operation: "retrieve_payment_intent",
                method: "GET",
                url: "https://api.stripe.com/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa",
            },
            Case {
                words: "When an account is submitted, list the customer's past invoices that are still unpaid in Stripe",
                entity: account.clone(),
                payload: json!({"stripe_customer_id": "cus_NffrFeUfNV2Hib", "email": "ada@example.com"}),
                operation: "list_invoices",
                method: "GET",
                url: "https://api.stripe.com/v1/invoices",
            },
            Case {
                words: "When an account is submitted, change the customer's email in Stripe",
                entity: account,
                payload: json!({"stripe_customer_id": "cus_NffrFeUfNV2Hib", "email": "ada@example.com"}),
                operation: "update_customer",
                method: "POST",
                url: "https://api.stripe.com/v1/customers/cus_NffrFeUfNV2Hib",
            },
        ],
    )
    .await;
    let invoices = requests[1]["url"].as_str().unwrap_or_default();
    assert!(
        invoices.contains("customer=cus_NffrFeUfNV2Hib") && invoices.contains("status=open"),
        "{invoices}"
    );
}

#[tokio::test]
async fn hubspot_finds_a_contact_by_email_and_reads_a_company() {
    let signup = entity("Signup", json!({"full_name": "string", "email": "email"}));
    let company = entity(
        "AccountReview",
        json!({"company_id": "string", "notes": "string"}),
    );
    let requests = run_cases(
        json!({"name": "hubspot", "provider": "hubspot", "config": {"auth_type": "private_app"},
               "credentials": {"access_token": "pat-na1-00000000-0000-0000-0000-000000000000"}}),
        vec![
            Case {
                words: "When a signup is submitted, find the contact by email in HubSpot",
                entity: signup,
                payload: json!({"full_name": "Ada Lovelace", "email": "ada@example.com"}),
                operation: "search_contacts",
                method: "POST",
                url: "https://api.hubapi.com/crm/v3/objects/contacts/search",
            },
            Case {
                words: "When an account review is submitted, fetch the company's details from HubSpot",
                entity: company,
                payload: json!({"company_id": "7788990011", "notes": "renewal"}),
                operation: "get_company",
                method: "GET",
                url: "https://api.hubapi.com/crm/v3/objects/companies/7788990011",
            },
        ],
    )
    .await;
    assert_eq!(
        requests[0]["body_json"]["filterGroups"][0]["filters"][0],
        json!({"propertyName": "email", "operator": "EQ", "value": "ada@example.com"}),
        "{}",
        requests[0]
    );
}

#[tokio::test]
async fn salesforce_upserts_by_external_id_reads_and_deletes_records() {
    let customer = entity(
        "Customer",
        json!({"external_id": "string", "first_name": "string", "last_name": "string", "email": "email"}),
    );
    let review = entity("Review", json!({"record_id": "string", "notes": "string"}));
    let requests = run_cases(
        json!({"name": "salesforce", "provider": "salesforce",
               "config": {"instance_url": "https://acme.my.salesforce.com"},
               "credentials": {"client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-depth"}}),
        vec![
            Case {
                words: "When a customer is submitted, upsert the Contact in Salesforce by Customer_Number__c",
                entity: customer.clone(),
                payload: json!({"external_id": "CN-1042", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}),
                operation: "upsert_record",
                method: "PATCH",
                url: "https://acme.my.salesforce.com/services/data/v62.0/sobjects/Contact/Customer_Number__c/CN-1042",
            },
            Case {
                words: "When a review is submitted, get the Opportunity record from Salesforce",
                entity: review.clone(),
                payload: json!({"record_id": "006D000000IqhSLIAZ", "notes": "ok"}),
                operation: "get_record",
                method: "GET",
                url: "https://acme.my.salesforce.com/services/data/v62.0/sobjects/Opportunity/006D000000IqhSLIAZ",
            },
            Case {
                words: "When a customer is submitted, look up the Account by Customer_Number__c in Salesforce",
                entity: customer,
                payload: json!({"external_id": "CN-1042", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}),
                operation: "get_record_by_external_id",
                method: "GET",
                url: "https://acme.my.salesforce.com/services/data/v62.0/sobjects/Account/Customer_Number__c/CN-1042",
            },
            Case {
                words: "When a review is submitted, delete the Lead in Salesforce",
                entity: review,
                payload: json!({"record_id": "00QD000000IqhSLMAZ", "notes": "duplicate"}),
                operation: "delete_record",
                method: "DELETE",
                url: "https://acme.my.salesforce.com/services/data/v62.0/sobjects/Lead/00QD000000IqhSLMAZ",
            },
        ],
    )
    .await;
    assert_eq!(
        requests[0]["body_json"],
        json!({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"}),
        "the external id goes in the path, not the body: {}",
        requests[0]
    );
}

#[tokio::test]
async fn intercom_searches_reads_contacts_and_replies_to_conversations() {
    let signup = entity("Signup", json!({"full_name": "string", "email": "email"}));
    let ticket = entity(
        "Ticket",
        json!({"contact_id": "string", "subject": "string"}),
    );
    let answer = entity(
        "Answer",
        json!({"conversation_id": "string", "message": "string"}),
    );
    let requests = run_cases(
        json!({"name": "intercom", "provider": "intercom", "config": {"admin_id": "814860"},
               "credentials": {"access_token": "dG9rOmRlcHRoLWludGVyY29tLXRva2Vu"}}),
        vec![
            Case {
                words: "When a signup is submitted, look up the user in Intercom by email",
                entity: signup,
                payload: json!({"full_name": "Ada Lovelace", "email": "ada@example.com"}),
                operation: "search_contacts",
                method: "POST",
                url: "https://api.intercom.io/contacts/search",
            },
            Case {
                words: "When a ticket is submitted, get the user's profile from Intercom",
                entity: ticket,
                payload: json!({"contact_id": "6762f0dd1bb69f9f2193bb83", "subject": "Login"}),
                operation: "get_contact",
                method: "GET",
                url: "https://api.intercom.io/contacts/6762f0dd1bb69f9f2193bb83",
            },
            Case {
                words: "When an answer is submitted, reply to the Intercom conversation with the message",
                entity: answer,
                payload: json!({"conversation_id": "524", "message": "We are on it."}),
                operation: "reply_to_conversation",
                method: "POST",
                url: "https://api.intercom.io/conversations/524/reply",
            },
        ],
    )
    .await;
    assert_eq!(
        requests[0]["body_json"]["query"],
        json!({"field": "email", "operator": "=", "value": "ada@example.com"}),
        "{}",
        requests[0]
    );
    let reply = &requests[2]["body_json"];
    assert_eq!(reply["admin_id"], "814860", "{reply}");
    assert_eq!(reply["type"], "admin", "{reply}");
    assert_eq!(reply["message_type"], "comment", "{reply}");
    assert!(reply.get("conversation_id").is_none(), "path only: {reply}");
}

#[tokio::test]
async fn slack_looks_up_users_replies_in_threads_edits_reacts_and_lists() {
    let hire = entity("NewHire", json!({"full_name": "string", "email": "email"}));
    let followup = entity("FollowUp", json!({"thread_id": "string", "note": "string"}));
    let edit = entity("Correction", json!({"ts": "string", "text": "string"}));
    let done = entity("Completion", json!({"timestamp": "string"}));
    let member = entity("Member", json!({"slack_user_id": "string"}));
    let requests = run_cases(
        json!({"name": "slack", "provider": "slack",
               "credentials": {"bot_token": "xoxb-0000000000-0000000000000-abcdefabcdefabcdefabcdef"},
               "config": {"default_channel": "C1H9RESGL"}}),
        vec![
            Case {
                words: "When a new hire is submitted, look up the Slack user by email",
                entity: hire,
                payload: json!({"full_name": "Egon Spengler", "email": "spengler@example.com"}),
                operation: "lookup_user",
                method: "GET",
                url: "https://slack.com/api/users.lookupByEmail",
            },
            Case {
                words: "When a follow up is submitted, reply in the Slack thread with the note",
                entity: followup,
                payload: json!({"thread_id": "1503435956.000247", "note": "Done, thanks!"}),
                operation: "reply_in_thread",
                method: "POST",
                url: "https://slack.com/api/chat.postMessage",
            },
            Case {
                words: "When a correction is submitted, edit the Slack message",
                entity: edit,
                payload: json!({"ts": "1503435956.000247", "text": "Opens at 9:30"}),
                operation: "update_message",
                method: "POST",
                url: "https://slack.com/api/chat.update",
            },
            Case {
                words: "When a completion is submitted, react to the Slack message with a check mark",
                entity: done,
                payload: json!({"timestamp": "1503435956.000247"}),
                operation: "add_reaction",
                method: "POST",
                url: "https://slack.com/api/reactions.add",
            },
            Case {
                words: "When an audit is submitted, list all conversations in the Slack workspace",
                entity: entity("Audit", json!({"requested_by": "string"})),
                payload: json!({"requested_by": "ops"}),
                operation: "list_channels",
                method: "GET",
                url: "https://slack.com/api/conversations.list",
            },
            Case {
                words: "When a member is submitted, get the Slack user info",
                entity: member,
                payload: json!({"slack_user_id": "W012A3CDE"}),
                operation: "get_user",
                method: "GET",
                url: "https://slack.com/api/users.info",
            },
        ],
    )
    .await;
    assert!(
        requests[0]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("email=spengler%40example.com")),
        "{}",
        requests[0]
    );
    let reply = &requests[1]["body_json"];
    assert_eq!(reply["thread_ts"], "1503435956.000247", "{reply}");
    assert_eq!(reply["channel"], "C1H9RESGL", "{reply}");
    assert_eq!(
        requests[3]["body_json"]["name"], "white_check_mark",
        "{}",
        requests[3]
    );
    assert!(
        requests[5]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("user=W012A3CDE")),
        "{}",
        requests[5]
    );
}

#[tokio::test]
async fn notion_appends_blocks_to_a_page_and_reads_its_content() {
    let note = entity("Note", json!({"page_id": "string", "note": "string"}));
    let page = "59833787-2cf9-4fdf-8782-e53db20768a5";
    let requests = run_cases(
        json!({"name": "notion", "provider": "notion",
               "credentials": {"integration_token": "ntn_000000000000000000000000000000000000000000000"},
               "config": {"data_source_id": "248104cd-477e-80af-bc30-000bd28de8f9"}}),
        vec![
            Case {
                words: "When a note is submitted, append the note to the Notion page",
                entity: note.clone(),
                payload: json!({"page_id": page, "note": "Follow-up booked"}),
                operation: "append_block_children",
                method: "PATCH",
                url: "https://api.notion.com/v1/blocks/59833787-2cf9-4fdf-8782-e53db20768a5/children",
            },
            Case {
                words: "When a note is submitted, read the blocks of the Notion page",
                entity: note,
                payload: json!({"page_id": page, "note": "n/a"}),
                operation: "get_block_children",
                method: "GET",
                url: "https://api.notion.com/v1/blocks/59833787-2cf9-4fdf-8782-e53db20768a5/children",
            },
        ],
    )
    .await;
    let block = &requests[0]["body_json"]["children"][0];
    assert_eq!(block["type"], "paragraph", "{block}");
    assert_eq!(
        block["paragraph"]["rich_text"][0]["text"]["content"], "Follow-up booked",
        "{block}"
    );
}

#[tokio::test]
async fn linear_searches_reads_and_lists_issues() {
    let bug = entity(
        "BugReport",
        json!({"title": "string", "description": "string", "reporter_email": "email"}),
    );
    let check = entity(
        "StatusCheck",
        json!({"issue_id": "string", "comment": "string"}),
    );
    let requests = run_cases(
        json!({"name": "linear", "provider": "linear",
               "credentials": {"api_key": "lin_api_0000000000000000000000000000000000000000"},
               "config": {"team_id": "9cfb482a-81e3-4154-b5b9-2c805e70a02d"}}),
        vec![
            Case {
                words: "When a bug report is submitted, search Linear issues for the bug's title",
                entity: bug,
                payload: json!({"title": "Login fails", "description": "500", "reporter_email": "ada@example.com"}),
                operation: "search_issues",
                method: "POST",
                url: "https://api.linear.app/graphql",
            },
            Case {
                words: "When a status check is submitted, look up the Linear issue",
                entity: check.clone(),
                payload: json!({"issue_id": "ENG-1778", "comment": "?"}),
                operation: "get_issue",
                method: "POST",
                url: "https://api.linear.app/graphql",
            },
            Case {
                words: "When a status check is submitted, list the open issues in Linear",
                entity: check,
                payload: json!({"issue_id": "ENG-1778", "comment": "-"}),
                operation: "list_issues",
                method: "POST",
                url: "https://api.linear.app/graphql",
            },
        ],
    )
    .await;
    let body = |n: usize| requests[n]["body_json"].clone();
    assert!(
        body(0)["query"]
            .as_str()
            .is_some_and(|q| q.contains("searchIssues("))
    );
    assert_eq!(body(0)["variables"]["term"], "Login fails", "{}", body(0));
    assert_eq!(body(1)["variables"]["id"], "ENG-1778", "{}", body(1));
    assert!(
        body(2)["query"]
            .as_str()
            .is_some_and(|q| q.contains("issues(filter:"))
    );
}
