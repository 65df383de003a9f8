#!/usr/bin/env python3
"""Writes tests/data/webhooks/vectors.json: webhook signature test vectors.

Published vectors (copied from the providers' documentation and SDK test suites) are
re-checked here with the official SDKs; where no vector is published, the signature is
produced with the provider's official SDK (stripe, slack_sdk, twilio, sendgrid,
hubspot-api-client from PyPI), or, for providers without a Python SDK that signs
(Linear, Notion, Intercom, Mailgun, Custom HTTP), with Python's hmac module following
the provider's documentation, and for Linear re-checked with the official @linear/sdk
(see linear_check.mjs). The Rust tests read only vectors.json: no Python at test time.

    python3 -m venv .tools/vectors-venv
    .tools/vectors-venv/bin/pip install stripe==16.1.0 slack_sdk==3.48.0 twilio==9.13.0 \
        sendgrid==6.12.5 hubspot-api-client==12.0.0
    .tools/vectors-venv/bin/python tests/data/webhooks/generate.py
"""

import base64
import hashlib
import hmac
import json
import pathlib
import sys

import hubspot
import sendgrid
import slack_sdk
import stripe
import twilio
from hubspot.utils.signature import Signature as HubSpotSignature
from sendgrid.helpers.eventwebhook import EventWebhook
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
vectors = []


def add(**vector):
    vectors.append(vector)


sdks = {
    "stripe": stripe.VERSION,
    "slack_sdk": slack_sdk.version.__version__,
    "twilio": twilio.__version__,
    "sendgrid": sendgrid.__version__,
    "hubspot-api-client": hubspot.__version__ if hasattr(hubspot, "__version__") else "12.0.0",
}

# --- Stripe -------------------------------------------------------------------------
# stripe-python's tests sign DUMMY_WEBHOOK_PAYLOAD with whsec_test_secret at the current
# time; here at a fixed time, signed and verified with the SDK.
payload = """{
  "id": "evt_test_webhook",
  "object": "event",
  "data": { "object": { "id": "rdr_123", "object": "terminal.reader" } }
}"""
t = 1700000000
sig = stripe.WebhookSignature._compute_signature("%d.%s" % (t, payload), "whsec_test_secret")
header = "t=%d,v1=%s" % (t, sig)
assert stripe.WebhookSignature.verify_header(payload, header, "whsec_test_secret")
add(scheme="stripe_v1", name="stripe-python DUMMY_WEBHOOK_PAYLOAD, signed by the SDK",
    source="stripe %s (PyPI) WebhookSignature._compute_signature" % stripe.VERSION,
    secret="whsec_test_secret", now=t + 10, body=payload,
    headers={"Stripe-Signature": header})
# The same with a second, wrong v1 (a secret being rolled): still valid.
add(scheme="stripe_v1", name="one of two v1 signatures matches",
    source="stripe %s; stripe-python test_header_contains_valid_signature" % stripe.VERSION,
    secret="whsec_test_secret", now=t, body=payload,
    headers={"Stripe-Signature": header + ",v1=bad_signature"})
# The events/ sample: pretty-printed body signed with whsec_demo_events_secret.
event = json.loads((ROOT / "events/ingest-webhook/stripe-webhook.json").read_text())
sample_header = event["headers"]["stripe-signature"]
assert stripe.WebhookSignature.verify_header(event["body"], sample_header, "whsec_demo_events_secret")
add(scheme="stripe_v1", name="events/ingest-webhook/stripe-webhook.json",
    source="checked with stripe %s verify_header" % stripe.VERSION,
    secret="whsec_demo_events_secret", now=1700000000, body=event["body"],
    headers={"Stripe-Signature": sample_header})

# --- Slack --------------------------------------------------------------------------
# Slack's documented example (api.slack.com "Verifying requests from Slack", also in
# python-slack-sdk tests/signature/test_signature_verifier.py).
slack_body = ("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
              "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
              "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
              "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id="
              "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
slack_secret = "8f742231b10e8888abcd99yyyzzz85a5"
documented = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
verifier = SignatureVerifier(slack_secret)
assert verifier.generate_signature(timestamp="1531420618", body=slack_body) == documented
add(scheme="slack_v0", name="Slack's documented slash-command example",
    source="api.slack.com verifying requests; python-slack-sdk tests (slack_sdk %s agrees)" % sdks["slack_sdk"],
    secret=slack_secret, now=1531420618, body=slack_body,
    content_type="application/x-www-form-urlencoded",
    headers={"X-Slack-Request-Timestamp": "1531420618", "X-Slack-Signature": documented})
challenge = json.dumps({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge":
                        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                        "type": "url_verification"})
add(scheme="slack_v0", name="url_verification (Slack's documented challenge), signed by the SDK",
    source="slack_sdk %s SignatureVerifier.generate_signature" % sdks["slack_sdk"],
    secret=slack_secret, now=1531420700, body=challenge,
    headers={"X-Slack-Request-Timestamp": "1531420700",
             "X-Slack-Signature": verifier.generate_signature(timestamp="1531420700", body=challenge)})

# --- Twilio -------------------------------------------------------------------------
# twilio-python tests/unit/test_request_validator.py (published expected values), each
# re-checked with the SDK.
validator = RequestValidator("12345")
uri = "https://mycompany.com/myapp.php?foo=1&bar=2"
params = [["CallSid", "CA1234567890ABCDE"], ["Digits", "1234"], ["From", "+14158675309"],
          ["To", "+18005551212"], ["Caller", "+14158675309"]]
published = [
    ("SDK test: compute_signature", uri, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    ("SDK test: duplicate parameter names", uri,
     [["Sid", "CA123"], ["SidAccount", "AC123"], ["Digits", "5678"], ["Digits", "1234"]],
     "IK+Dwps556ElfBT0I3Rgjkr1wJU="),
    ("SDK test: signed with :443, received without a port", uri, params, "kvajT1Ptam85bY51eRf/AJRuM3w="),
    ("SDK test: signed without a port, received with :1234", uri.replace(".com", ".com:1234"), params,
     "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    ("SDK test: http, signed with :80", uri.replace("https", "http"), params, "0ZXoZLH/DfblKGATFgpif+LLRf4="),
]
for name, url, ps, expected in published:
    from multidict import MultiDict
    assert validator.validate(url, MultiDict(ps), expected), name
    add(scheme="twilio", name=name, source="twilio-python tests (twilio %s agrees)" % sdks["twilio"],
        secret="12345", now=1700000000, url=url, form=ps, headers={"X-Twilio-Signature": expected})
# Twilio's security documentation example, signed by the SDK.
doc_params = [["CallSid", "CA1234567890ABCDE"], ["Caller", "+12349013030"], ["Digits", "1234"],
              ["From", "+12349013030"], ["To", "+18005551212"]]
doc_sig = validator.compute_signature(uri, dict(doc_params))
assert doc_sig == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="  # the value the documentation gives
add(scheme="twilio", name="Twilio's security documentation example",
    source="twilio.com webhook security docs; twilio %s RequestValidator agrees" % sdks["twilio"],
    secret="12345", now=1700000000, url=uri, form=doc_params, headers={"X-Twilio-Signature": doc_sig})
body = '{"property": "value", "boolean": true}'
body_hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
assert validator.compute_hash(body) == body_hash
assert validator.validate(uri + "&bodySHA256=" + body_hash, body, "a9nBmqA0ju/hNViExpshrM61xv4=")
add(scheme="twilio", name="SDK test: JSON body through bodySHA256",
    source="twilio-python tests (twilio %s agrees)" % sdks["twilio"],
    secret="12345", now=1700000000, url=uri + "&bodySHA256=" + body_hash, body=body,
    content_type="application/json", headers={"X-Twilio-Signature": "a9nBmqA0ju/hNViExpshrM61xv4="})

# --- HubSpot ------------------------------------------------------------------------
# hubspot-api-python tests/spec/utils/test_signature.py, v3 (timestamp in ms).
hs = dict(secret="yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", body="{'example_field':'example_value'}",
          url="https://www.example.com/webhook_uri", method="POST", ts=15000000)
expected = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
assert HubSpotSignature.get_signature(hs["secret"], hs["body"], "v3", hs["url"], hs["method"], hs["ts"]) == expected
add(scheme="hubspot_v3", name="hubspot-api-python test_get_signature__v3",
    source="hubspot-api-python tests (hubspot-api-client %s agrees)" % sdks["hubspot-api-client"],
    secret=hs["secret"], now=hs["ts"] // 1000, url=hs["url"], method="POST", body=hs["body"],
    headers={"X-HubSpot-Request-Timestamp": str(hs["ts"]), "X-HubSpot-Signature-v3": expected})
batch = json.dumps([{"objectId": 1246965, "propertyName": "lifecyclestage", "propertyValue": "subscriber",
                     "changeSource": "ACADEMY", "eventId": 3816279340, "subscriptionId": 25, "portalId": 33,
                     "appId": 1160452, "occurredAt": 1462216307945, "subscriptionType": "contact.propertyChange",
                     "attemptNumber": 0}], separators=(",", ":"))
url = "https://hooks.example.com/hooks/clinic/hubspot?source=app%3Atest"
ts = 1795939213000
add(scheme="hubspot_v3", name="a contact batch with an escaped query, signed by the SDK over the URI as it is",
    source="hubspot-api-client %s Signature.get_signature v3" % sdks["hubspot-api-client"],
    secret=hs["secret"], now=ts // 1000, url=url, method="POST", body=batch,
    headers={"X-HubSpot-Request-Timestamp": str(ts),
             "X-HubSpot-Signature-v3": HubSpotSignature.get_signature(hs["secret"], batch, "v3", url, "POST", ts)})

# --- SendGrid -----------------------------------------------------------------------
# sendgrid-python test/unit/test_eventwebhook.py (published key, signature, payload).
sg_key = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
          "2fNNRaINXvVpiglSI8eNEc6wEA3F+g==")
sg_sig = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
sg_payload = json.dumps([{
    "email": "hello@world.com", "event": "dropped", "reason": "Bounced Address",
    "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
    "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
    "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>", "timestamp": 1600112492,
}], sort_keys=True, separators=(",", ":")) + "\r\n"
ew = EventWebhook()
assert ew.verify_signature(sg_payload, sg_sig, "1600112502", ew.convert_public_key_to_ecdsa(sg_key))
add(scheme="sendgrid_ecdsa", name="sendgrid-python test_verify_valid_signature",
    source="sendgrid-python tests (sendgrid %s agrees)" % sdks["sendgrid"],
    secret=sg_key, now=1600112510, body=sg_payload,
    headers={"X-Twilio-Email-Event-Webhook-Timestamp": "1600112502",
             "X-Twilio-Email-Event-Webhook-Signature": sg_sig})

# --- Schemes without a signing SDK: Python's hmac, per the providers' documentation ---
def hex_hmac(key, msg, digest=hashlib.sha256):
    return hmac.new(key.encode(), msg.encode(), digest).hexdigest()

linear_body = json.dumps({"action": "update", "type": "Issue", "createdAt": "2026-11-29T15:10:02.471Z",
                          "data": {"id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9", "identifier": "ENG-1778",
                                   "stateId": "3c1f3bd4", "state": {"name": "Done"}},
                          "updatedFrom": {"stateId": "9b2e4c1a"},
                          "webhookTimestamp": 1795965002612, "webhookId": "000042e3"}, separators=(",", ":"))
add(scheme="linear", name="an Issue update (hmac per Linear's documentation)",
    source="Python hmac; see linear_check.mjs for the @linear/sdk check",
    secret="lin_wh_test_secret", now=1795965002, body=linear_body,
    headers={"Linear-Signature": hex_hmac("lin_wh_test_secret", linear_body), "Linear-Delivery":
             "234d1a4e-b617-4388-90fe-adc3633d6b72"})
notion_body = json.dumps({"id": "1782edd6-a853-4d4a-b02c-9c8c16f28e53", "type": "page.properties_updated",
                          "entity": {"id": "153104cd-477e-809d-8dc4-ff2d96ae3090", "type": "page"},
                          "data": {"updated_properties": ["XGe%40", "bDf%5B", "DbAu"]}}, separators=(",", ":"))
add(scheme="notion", name="page.properties_updated (hmac per Notion's documentation)", source="Python hmac",
    secret="secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl", now=1733443025, body=notion_body,
    headers={"X-Notion-Signature": "sha256=" + hex_hmac("secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl", notion_body)})
intercom_body = json.dumps({"type": "notification_event", "topic": "contact.user.created",
                            "id": "notif_ccd8a4d0-f965-11e3-a367-c779cae3e1b3",
                            "data": {"type": "notification_event_data", "item": {"type": "contact", "id": "6762f0b51bb69f9f2193bb7b"}}},
                           separators=(",", ":"))
add(scheme="hub_signature_sha1", name="contact.user.created (hmac per Intercom's documentation)",
    source="Python hmac", secret="intercom_client_secret_example", now=1734537438, body=intercom_body,
    headers={"X-Hub-Signature": "sha1=" + hex_hmac("intercom_client_secret_example", intercom_body, hashlib.sha1)})
mg_token, mg_ts = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123", "1770920772"
mailgun_body = json.dumps({"signature": {"token": mg_token, "timestamp": mg_ts,
                                         "signature": hex_hmac("key-mailgun-signing-example", mg_ts + mg_token)},
                           "event-data": {"event": "delivered", "id": "CCXMjJ7nQi2N3BPigGOdgQ",
                                          "message": {"headers": {"message-id": "20111114174239.25659.5817@mg.example.com"}}}},
                          separators=(",", ":"))
add(scheme="mailgun_body", name="delivered (hmac per Mailgun's documentation)", source="Python hmac",
    secret="key-mailgun-signing-example", now=1770920800, body=mailgun_body, headers={})
# RFC 7617 section 2's example credentials.
add(scheme="basic_auth", name="RFC 7617 Aladdin:open sesame", source="RFC 7617 section 2",
    secret="open sesame", now=1700000000, body='{"RecordType":"Delivery","MessageID":"m1"}',
    headers={"Authorization": "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="})
custom_body = '{"id":"evt_42","type":"ticket.updated","data":{"id":"T-7","status":"closed"}}'
add(scheme="hmac_sha256", name="Custom HTTP: sha256=<hex> over {timestamp}.{body}", source="Python hmac",
    secret="custom-webhook-secret", now=1700000000, body=custom_body,
    hmac={"encoding": "hex", "prefix": "sha256=", "signed": "{timestamp}.{body}"},
    timestamp_header="X-Timestamp",
    headers={"X-Timestamp": "1700000000",
             "X-Signature": "sha256=" + hex_hmac("custom-webhook-secret", "1700000000." + custom_body)})
add(scheme="hmac_sha256", name="Custom HTTP: base64 over the body", source="Python hmac",
    secret="custom-webhook-secret", now=1700000000, body=custom_body,
    hmac={"encoding": "base64", "prefix": "", "signed": "{body}"},
    headers={"X-Signature": base64.b64encode(hmac.new(b"custom-webhook-secret", custom_body.encode(),
                                                      hashlib.sha256).digest()).decode()})

out = {"generated_by": "tests/data/webhooks/generate.py", "sdks": sdks,
       "python": sys.version.split()[0], "vectors": vectors}
(HERE / "vectors.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
print("wrote %d vectors" % len(vectors))
