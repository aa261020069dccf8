//! Parser vectors (every expression of spec §3.2), exact error messages, and the evaluator on
//! hand-built traces and on the real SDK captures (`shared/fixtures`), with expected trace ids
//! worked out by hand from the capture files.

use std::collections::BTreeSet;
use std::path::Path;

use fluoro_proto::frame;
use fluoro_proto::ids::TraceId;
use fluoro_proto::segment::Segment;

use super::*;
use crate::trace::{AssembledTrace, assemble, summarize};

/// Every valid expression quoted in spec §3.2, in order.
const SPEC_VECTORS: &[&str] = &[
    "responsetime > 5",
    "duration >= 5 AND duration <= 8",
    "ok",
    "!ok",
    "ok = false",
    "http.status != 200",
    "ok !partial duration <3",
    "http.url CONTAINS \"/api/game/\"",
    "user CONTAINS \"\"",
    "service(\"api.example.com\")",
    "service(\"api.example.com\") { fault }",
    "service() { fault }",
    "edge(\"api.example.com\", \"backend.example.com\") { error }",
    "http.url BEGINSWITH \"http://api.example.com/\" AND http.url CONTAINS \"/v2/\" AND !service(\"api.example.com\")",
    "http.url AND responseTime > 2",
    "annotation.account = \"12345\"",
    "annotation.gameid = \"817DL6VO\"",
    "annotation.age",
    "!annotation.age",
    "annotation.age > 29",
    "group.name = \"high_response_time\" AND user = \"alice\"",
    "service(\"data-plane\") {root = true and fault = true}",
    "rootcause.fault.entity { last and name = \"deserialize\" }",
    "rootcause.responsetime.entity { remote and coverage > 0.7 and name = \"traces\" }",
    "rootcause.fault.service { inferred and name = traces and type = \"AWS::DynamoDB\" }",
    "rootcause.fault.service { index > 5 }",
    "rootcause.responsetime.entity { last and coverage > 0.8 }",
    "rootcause.fault.service { name = \"Auth\" }",
    "rootcause.responsetime.service { last and type = \"AWS::DynamoDB\" }",
    "service(\"function-name\") { error }",
    "service(id(name: \"random-name\", type: \"AWS::Lambda::Function\")) { error }",
    "service(id(type: \"AWS::Lambda::Function\")) { error }",
    "service(id(account.id: \"account-id\"))",
    "fault = true AND http.url CONTAINS \"example/game\" AND responsetime >= 5",
    "service(\"example.com\") {fault OR error}",
    "responseTime > 3",
    "rootcause.json = #[{ \"Services\": [ { \"Name\": \"GetWeatherData\", \"EntityPath\": [{ \"Name\": \"GetWeatherData\" }, { \"Name\": \"get_temperature\" } ] }, { \"Name\": \"GetTemperature\", \"EntityPath\": [ { \"Name\": \"GetTemperature\" } ] } ] }]",
    // The generic templates and the third-party usage quoted after the list.
    "id(name: \"service-name\", type:\"service::type\", account.id:\"account-ID\")",
    "service(id(name: \"service-name\", type:\"service::type\")) { ok }",
    "edge(id(name: \"service-one\", type:\"service::type\"), id(name: \"service-two\", type:\"service::type\")) { ok }",
    "rootcause.error.exception { message CONTAINS \"not authorized\" }",
];

#[test]
fn every_spec_vector_parses_and_prints_back() {
    for v in SPEC_VECTORS {
        // A bare `id(...)` is an entity selector, not a filter: it is only valid inside
        // service()/edge().
        if v.starts_with("id(") {
            let wrapped = format!("service({v})");
            let f = parse(&wrapped).unwrap_or_else(|e| panic!("{wrapped}: {e}"));
            assert_eq!(parse(&f.to_string()), Ok(f.clone()), "{wrapped}");
            continue;
        }
        let f = parse(v).unwrap_or_else(|e| panic!("{v}: {e}"));
        let text = f.to_string();
        assert_eq!(parse(&text), Ok(f.clone()), "{v} printed as {text}");
    }
}

fn kw(keyword: Keyword) -> Filter {
    Filter::Test(Test {
        keyword,
        cmp: Comparison::Present,
    })
}

fn is(keyword: Keyword, op: Op, value: Value) -> Filter {
    Filter::Test(Test {
        keyword,
        cmp: Comparison::Is(op, value),
    })
}

#[test]
fn trees_of_some_vectors() {
    assert_eq!(
        parse("ok !partial duration <3").unwrap(),
        Filter::And(vec![
            kw(Keyword::Ok),
            Filter::Not(Box::new(kw(Keyword::Partial))),
            is(Keyword::Duration, Op::Lt, Value::Number(3.0)),
        ])
    );
    assert_eq!(
        parse("ok !partial duration <3").unwrap().to_string(),
        "ok AND !partial AND duration < 3"
    );
    // `!` binds tighter than AND, AND (implicit too) tighter than OR.
    assert_eq!(
        parse("ok OR fault error").unwrap(),
        Filter::Or(vec![
            kw(Keyword::Ok),
            Filter::And(vec![kw(Keyword::Fault), kw(Keyword::Error)]),
        ])
    );
    assert_eq!(
        parse("NOT (ok or fault) AND throttle").unwrap().to_string(),
        "!(ok OR fault) AND throttle"
    );
    // Case-insensitive keywords, operators and booleans; annotation keys keep their case.
    assert_eq!(
        parse("ResponseTime >= 2 and HTTP.URL contains \"/a\" And Ok = FALSE").unwrap(),
        parse("responsetime >= 2 AND http.url CONTAINS \"/a\" AND ok = false").unwrap()
    );
    assert_eq!(
        parse("Annotation.GameId = \"x\"").unwrap(),
        Filter::Annotation {
            key: "GameId".to_owned(),
            cmp: Comparison::Is(Op::Eq, Value::String("x".to_owned())),
        }
    );
    // annotation[KEY] for keys that annotation.KEY cannot address; prints back the same way.
    let f = parse("annotation[\"aws.local.service\"] = \"orders\"").unwrap();
    assert_eq!(
        f,
        Filter::Annotation {
            key: "aws.local.service".to_owned(),
            cmp: Comparison::Is(Op::Eq, Value::String("orders".to_owned())),
        }
    );
    assert_eq!(
        f.to_string(),
        "annotation[\"aws.local.service\"] = \"orders\""
    );
    assert_eq!(
        parse("annotation[tier]").unwrap().to_string(),
        "annotation.tier"
    );
    // Bare words are strings on the right-hand side.
    assert_eq!(
        parse("rootcause.fault.service { name = traces }")
            .unwrap()
            .to_string(),
        "rootcause.fault.service { name = \"traces\" }"
    );
    assert_eq!(
        parse("service(id(type: \"AWS::Lambda::Function\")) { error }").unwrap(),
        Filter::Service {
            node: Some(NodeRef {
                r#type: Some("AWS::Lambda::Function".to_owned()),
                id_form: true,
                ..NodeRef::default()
            }),
            block: Some(Box::new(kw(Keyword::Error))),
        }
    );
    // Escapes in strings.
    assert_eq!(
        parse(r#"user = "a\"b\\c""#).unwrap(),
        is(Keyword::User, Op::Eq, Value::String("a\"b\\c".to_owned()))
    );
    assert_eq!(
        parse(r#"user = "a\"b\\c""#).unwrap().to_string(),
        r#"user = "a\"b\\c""#
    );
    assert_eq!(
        parse("annotation.n >= -1.5e2").unwrap(),
        Filter::Annotation {
            key: "n".to_owned(),
            cmp: Comparison::Is(Op::Ge, Value::Number(-150.0)),
        }
    );
}

#[test]
fn empty_expression_matches_everything() {
    assert_eq!(parse(""), Ok(Filter::All));
    assert_eq!(parse("  \t\n"), Ok(Filter::All));
    let t = built_trace();
    assert!(matches(&Filter::All, &t.0, &t.1));
}

fn err(expr: &str) -> String {
    match parse(expr) {
        Ok(f) => panic!("{expr} parsed as {f:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_say_where_and_what_was_expected() {
    const TERM: &str = "a keyword, '!', NOT, '(' or service(...)/edge(...)";
    let cases: &[(&str, String)] = &[
        // Unbalanced parentheses, both directions.
        (
            "(ok AND fault",
            "unclosed '(' at 0; expected ')' before the end of the expression (at 13)".to_owned(),
        ),
        (
            "ok AND fault)",
            "unmatched ')' at 12; expected AND, OR or the end of the expression".to_owned(),
        ),
        (
            "(ok))",
            "unmatched ')' at 4; expected AND, OR or the end of the expression".to_owned(),
        ),
        (") ok", format!("unmatched ')' at 0; expected {TERM}")),
        ("(ok AND )", format!("unexpected ')' at 8; expected {TERM}")),
        // Unclosed block (the doc's typo in §3.2 irregularity 3 is rejected).
        (
            "rootcause.fault.exception { last and message = \"Access Denied for account_id: 1234567890\"",
            "unclosed '{' at 26; expected '}' before the end of the expression (at 89)".to_owned(),
        ),
        (
            "service(\"a\") { fault",
            "unclosed '{' at 13; expected '}' before the end of the expression (at 20)".to_owned(),
        ),
        // Unknown keywords, at the top level and in blocks.
        (
            "responsetimes > 5",
            "unknown keyword 'responsetimes' at 0; expected a keyword such as ok, fault, \
             responsetime, http.url, user, annotation.KEY, service(...), edge(...), group.name \
             or rootcause.*"
                .to_owned(),
        ),
        (
            "ok AND root",
            "unknown keyword 'root' at 7; expected a keyword such as ok, fault, responsetime, \
             http.url, user, annotation.KEY, service(...), edge(...), group.name or rootcause.*"
                .to_owned(),
        ),
        (
            "service(\"a\") { coverage > 1 }",
            "unknown keyword 'coverage' at 15; expected a keyword valid inside service/edge \
             blocks: ok, error, fault, throttle, partial, inferred, root, responsetime, \
             duration, http.*, user, name, type, annotation.KEY"
                .to_owned(),
        ),
        (
            "rootcause.fault.entity { fault }",
            "unknown keyword 'fault' at 25; expected a keyword valid inside root-cause blocks: \
             name, type, message, remote, inferred, first, last, index, coverage"
                .to_owned(),
        ),
        // Wrong value type for a keyword.
        (
            "responsetime = \"x\"",
            "unexpected string \"x\" at 15; expected a number (responsetime takes a number)"
                .to_owned(),
        ),
        (
            "http.url > 3",
            "unexpected '>' at 9; expected =, !=, CONTAINS, BEGINSWITH or ENDSWITH (http.url \
             takes a quoted string)"
                .to_owned(),
        ),
        (
            "http.status = 2xx",
            "unexpected '2xx' at 14; expected a number, a keyword or a quoted string".to_owned(),
        ),
        (
            "user = 42",
            "unexpected '42' at 7; expected a quoted string (user takes a quoted string)"
                .to_owned(),
        ),
        (
            "ok = 1",
            "unexpected '1' at 5; expected true or false (ok takes true or false)".to_owned(),
        ),
        (
            "fault CONTAINS \"x\"",
            "unexpected 'CONTAINS' at 6; expected '=' or '!=' (fault takes true or false)"
                .to_owned(),
        ),
        (
            "annotation.age > \"x\"",
            "unexpected string \"x\" at 17; expected a number after '>'".to_owned(),
        ),
        (
            "annotation.flag CONTAINS true",
            "unexpected 'true' at 25; expected a quoted string after 'CONTAINS'".to_owned(),
        ),
        // Unterminated strings.
        (
            "http.url CONTAINS \"/api",
            "unterminated string at 18; expected a closing '\"'".to_owned(),
        ),
        (
            "service(\"a) { fault }",
            "unterminated string at 8; expected a closing '\"'".to_owned(),
        ),
        // Trailing and doubled operators, missing values.
        (
            "ok AND",
            format!("unexpected end of expression at 6; expected {TERM}"),
        ),
        (
            "ok OR OR fault",
            format!("unexpected 'OR' at 6; expected {TERM}"),
        ),
        (
            "!",
            format!("unexpected end of expression at 1; expected {TERM}"),
        ),
        (
            "responsetime >",
            "unexpected end of expression at 14; expected a number after '>'".to_owned(),
        ),
        (
            "http.url CONTAINS \"/x\" AND user = )",
            "unexpected ')' at 34; expected a quoted string after '='".to_owned(),
        ),
        (
            "annotation.k = AND ok",
            "unexpected 'AND' at 15; expected a value after '='".to_owned(),
        ),
        // Other structure.
        (
            "ok & fault",
            "unexpected character '&' at 3; expected a keyword, a value, an operator or a \
             parenthesis"
                .to_owned(),
        ),
        (
            "responsetime 5",
            "unexpected '5' at 13; expected AND, OR or the end of the expression".to_owned(),
        ),
        (
            "edge(\"a\") { fault }",
            "unexpected ')' at 8; expected ',' between the two services of an edge".to_owned(),
        ),
        (
            "service(api) { fault }",
            "unexpected 'api' at 8; expected a quoted service name or id(...)".to_owned(),
        ),
        (
            "service(id(name: \"a\", name: \"b\"))",
            "repeated 'name' at 22; expected each of name, type and account.id at most once"
                .to_owned(),
        ),
        (
            "service(id(kind: \"a\"))",
            "unexpected 'kind' at 11; expected name, type or account.id".to_owned(),
        ),
        (
            "rootcause.json = #[{\"a\": ]",
            "unterminated JSON array at 17; expected a closing ']'".to_owned(),
        ),
        (
            "group.name > \"x\"",
            "unexpected '>' at 11; expected '=' or '!=' after group.name".to_owned(),
        ),
        (
            "rootcause.responsetime.exception { name = \"x\" }",
            "unknown keyword 'rootcause.responsetime.exception' at 0; expected a keyword such \
             as ok, fault, responsetime, http.url, user, annotation.KEY, service(...), \
             edge(...), group.name or rootcause.*"
                .to_owned(),
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(err(expr), format!("filter expression: {want}"), "{expr}");
    }
    // The error value carries the position and the expectation separately.
    let e = parse("user = )").unwrap_err();
    assert_eq!(e.pos, 7);
    assert_eq!(e.problem, "unexpected ')'");
    assert_eq!(e.expected, "a quoted string after '='");
}

#[test]
fn first_problem_is_reported() {
    // The unmatched ')' comes before the unterminated string.
    assert_eq!(
        err("ok) AND user = \"x"),
        "filter expression: unmatched ')' at 2; expected AND, OR or the end of the expression"
    );
}

// ---------------------------------------------------------------------------------------------
// Evaluation on a hand-built trace.

const TRACE: &str = "1-5f000000-000000000000000000000001";

fn doc(json: &str) -> Segment {
    Segment::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

/// `web` (EC2, 200, user bob, 1.5 s) calls `backend` through a remote subsegment that faulted,
/// and DynamoDB table `orders` (not traced: an inferred node). `backend` faulted with an
/// exception "db down" and recorded its own annotations.
fn built_trace() -> (AssembledTrace, fluoro_proto::api::TraceSummary) {
    let web = doc(&format!(
        r#"{{"id":"a000000000000001","name":"web","trace_id":"{TRACE}","start_time":100,"end_time":101.5,
            "origin":"AWS::EC2::Instance","user":"bob",
            "aws":{{"account_id":"123456789012","ec2":{{"instance_id":"i-1","availability_zone":"us-east-1a"}}}},
            "http":{{"request":{{"method":"GET","url":"http://web.example.com/api/v2/items","user_agent":"curl/8","client_ip":"10.0.0.1"}},
                     "response":{{"status":200}}}},
            "annotations":{{"tier":"gold","n":5,"vip":true,"off":false}},
            "subsegments":[
              {{"id":"b000000000000001","name":"backend","namespace":"remote","start_time":100.1,"end_time":101.0,
                "fault":true,"http":{{"request":{{"method":"GET","url":"http://backend/x"}},"response":{{"status":500}}}}}},
              {{"id":"b000000000000002","name":"dynamodb","namespace":"aws","start_time":101.1,"end_time":101.2,
                "aws":{{"operation":"GetItem","table_name":"orders"}},"http":{{"response":{{"status":200}}}}}}
            ]}}"#
    ));
    let backend = doc(&format!(
        r#"{{"id":"c000000000000001","name":"backend","trace_id":"{TRACE}","parent_id":"b000000000000001",
            "start_time":100.2,"end_time":100.9,"origin":"AWS::ECS::Container","fault":true,
            "http":{{"request":{{"method":"GET","url":"http://backend/x"}},"response":{{"status":500}}}},
            "cause":{{"exceptions":[{{"id":"e000000000000001","type":"DbError","message":"db down"}}]}},
            "annotations":{{"tier":"silver"}},
            "subsegments":[{{"id":"c000000000000002","name":"query","start_time":100.3,"end_time":100.95,
                             "annotations":{{"rows":3}}}}]}}"#
    ));
    let t = assemble(TraceId::parse(TRACE).unwrap(), vec![backend, web]);
    let s = summarize(&t);
    (t, s)
}

fn check(expr: &str, want: bool) {
    let (t, s) = built_trace();
    let f = parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    assert_eq!(matches(&f, &t, &s), want, "{expr}");
    // The canonical text means the same.
    let again = parse(&f.to_string()).unwrap();
    assert_eq!(matches(&again, &t, &s), want, "{expr} as {f}");
}

#[test]
fn trace_level_keywords_read_the_root_and_summary() {
    check("ok", true);
    check("!ok", false);
    check("ok = false", false);
    check("ok != false", true);
    check("fault", false); // the fault was handled downstream: only service() finds it
    check("error OR throttle", false);
    check("partial", false);
    check("inferred", true); // DynamoDB
    check("responsetime > 1.4 AND responsetime < 1.6", true);
    check("duration = 1.5", true);
    check("http.status = 200", true);
    check("http.status != 200", false);
    check("http.status >= 500", false);
    check(
        "http.url BEGINSWITH \"http://web.example.com/\" AND http.url CONTAINS \"/v2/\"",
        true,
    );
    check("http.url ENDSWITH \"/items\"", true);
    check("http.url = \"http://backend/x\"", false); // only the root's request counts
    check(
        "http.method = \"GET\" http.useragent = \"curl/8\" http.clientip = \"10.0.0.1\"",
        true,
    );
    check("http.method = \"get\"", false); // case-sensitive by default
    check("user = \"bob\"", true);
    check("user CONTAINS \"\"", true);
    check("user = \"alice\"", false);
    check(
        "instance.id = \"i-1\" AND availabilityzone = \"us-east-1a\"",
        true,
    );
    check("resource.arn", false);
    check("http.url AND responseTime > 1", true);
}

#[test]
fn annotations_are_existential_and_typed() {
    check("annotation.tier = \"gold\"", true);
    check("annotation.tier = \"silver\"", true); // recorded by backend
    check("annotation.tier != \"gold\"", true); // "silver" differs
    check("annotation.tier BEGINSWITH \"go\"", true);
    check("annotation.n > 4 AND annotation.n <= 5", true);
    check("annotation.n = \"5\"", false); // a number compared with a string
    check("annotation.vip", true);
    check("annotation.vip = true", true);
    check("annotation.off", false); // a false boolean annotation
    check("annotation.off = false", true);
    check("!annotation.off", true);
    check("annotation.missing", false);
    check("!annotation.missing", true);
    check("annotation.rows = 3", true); // on a subsegment
    check("annotation[\"n\"] = 5", true);
    check("annotation.Tier", false); // keys are case-sensitive
}

#[test]
fn service_blocks_read_that_service_segments() {
    check("service(\"backend\")", true);
    check("service(\"backend\") { fault }", true);
    check("service(\"backend\") { error }", false);
    check("service(\"web\") { fault }", false);
    check("service(\"web\") { root = true AND ok }", true);
    check("service(\"backend\") { root }", false);
    check("service() { fault }", true);
    check("service(\"nobody\")", false);
    check("!service(\"nobody\")", true);
    check(
        "service(id(name: \"backend\", type: \"AWS::ECS::Container\")) { fault }",
        true,
    );
    check(
        "service(id(name: \"backend\", type: \"AWS::EC2::Instance\"))",
        false,
    );
    check(
        "service(id(account.id: \"123456789012\")) { name = \"web\" }",
        true,
    );
    check(
        "service(\"backend\") { responsetime > 0.69 AND responsetime < 0.71 }",
        true,
    );
    // duration runs to the latest end in the segment's subtree (the query ends at 100.95).
    check(
        "service(\"backend\") { duration > 0.74 AND duration < 0.76 }",
        true,
    );
    check(
        "service(\"backend\") { http.status = 500 AND http.url = \"http://backend/x\" }",
        true,
    );
    check(
        "service(\"backend\") { annotation.tier = \"silver\" AND annotation.rows = 3 }",
        true,
    );
    check("service(\"web\") { annotation.tier = \"silver\" }", false);
    check(
        "service(\"web\") { user = \"bob\" AND type = \"AWS::EC2::Instance\" }",
        true,
    );
    // The inferred DynamoDB table node, named after its table.
    check(
        "service(id(name: \"orders\", type: \"AWS::DynamoDB::Table\")) { inferred AND ok }",
        true,
    );
    check("service(\"backend\") { fault } AND !fault", true);
}

#[test]
fn edge_blocks_read_the_caller_view() {
    check("edge(\"web\", \"backend\")", true);
    check("edge(\"backend\", \"web\")", false);
    check(
        "edge(\"web\", \"backend\") { fault AND http.status = 500 }",
        true,
    );
    // The record is the calling subsegment: 100.1 .. 101.0.
    check(
        "edge(\"web\", \"backend\") { responsetime > 0.89 AND responsetime < 0.91 }",
        true,
    );
    check("edge(\"web\", \"orders\") { ok }", true);
    check(
        "edge(\"web\", id(type: \"AWS::DynamoDB::Table\")) { fault }",
        false,
    );
}

#[test]
fn root_causes_are_iterated_per_element() {
    // Fault path: web (web, backend call) → backend (backend segment, the culprit).
    check(
        "rootcause.fault.service { name = \"backend\" AND last }",
        true,
    );
    check(
        "rootcause.fault.service { first AND name = \"web\" AND index = 0 }",
        true,
    );
    check("rootcause.fault.service { index > 1 }", false);
    check(
        "rootcause.fault.service { type = \"AWS::ECS::Container\" AND !inferred }",
        true,
    );
    check(
        "rootcause.fault.entity { last AND name = \"backend\" AND index = 2 }",
        true,
    );
    check(
        "rootcause.fault.entity { name = \"backend\" AND remote }",
        true,
    ); // the call
    check(
        "rootcause.fault.exception { name = \"DbError\" AND message CONTAINS \"down\" }",
        true,
    );
    check("rootcause.fault.exception { message = \"db up\" }", false);
    check("rootcause.error.service", false);
    check("rootcause.fault.service", true);
    // Response time: web covers all of it.
    check(
        "rootcause.responsetime.entity { first AND coverage = 1 AND name = \"web\" }",
        true,
    );
    check("rootcause.responsetime.entity { coverage > 1 }", false);
    check(
        "rootcause.json = #[{\"Services\": [{\"Name\": \"web\"}, {\"Name\": \"backend\", \
         \"EntityPath\": [{\"Name\": \"backend\", \"Exceptions\": [{\"Message\": \"db down\"}]}]}]}]",
        true,
    );
    check(
        "rootcause.json = #[{\"Services\": [{\"Name\": \"backend\"}]}]",
        false, // one service where the path has two
    );
    check(
        "rootcause.json = #[{\"Services\": [{\"Name\": \"web\"}, {\"Name\": \"backend\", \
         \"EntityPath\": [{\"Name\": \"backend\", \"Exceptions\": [{\"Message\": \"db up\"}]}]}]}]",
        false,
    );
}

#[test]
fn options_groups_and_case() {
    let (t, s) = built_trace();
    let groups = [
        GroupFilter {
            name: "gold".to_owned(),
            arn: "arn:aws:xray:us-east-1:123456789012:group/gold/ABC".to_owned(),
            filter: parse("annotation.tier = \"gold\"").unwrap(),
        },
        GroupFilter {
            name: "slow".to_owned(),
            arn: "arn:aws:xray:us-east-1:123456789012:group/slow/DEF".to_owned(),
            filter: parse("responsetime > 5").unwrap(),
        },
        GroupFilter {
            name: "loop".to_owned(),
            arn: "arn:loop".to_owned(),
            filter: parse("ok AND group.name = \"loop\"").unwrap(),
        },
    ];
    let opts = EvalOptions {
        groups: &groups,
        ignore_case: false,
    };
    let m = |e: &str, o: &EvalOptions<'_>| matches_with(&parse(e).unwrap(), &t, &s, o);
    assert!(m("group.name = \"gold\" AND user = \"bob\"", &opts));
    assert!(!m("group.name = \"slow\"", &opts));
    assert!(m("group.name != \"slow\"", &opts));
    assert!(m(
        "group.arn = \"arn:aws:xray:us-east-1:123456789012:group/gold/ABC\"",
        &opts
    ));
    assert!(!m("group.name = \"unknown\"", &opts));
    assert!(!m("group.name = \"loop\"", &opts)); // a cycle matches nothing
    // Without groups, nothing is a member.
    assert!(!matches(&parse("group.name = \"gold\"").unwrap(), &t, &s));
    let ci = EvalOptions {
        groups: &[],
        ignore_case: true,
    };
    assert!(m("http.method = \"get\" AND user = \"BOB\"", &ci));
    assert!(!m("http.method = \"get\"", &EvalOptions::default()));
}

// ---------------------------------------------------------------------------------------------
// Evaluation over the real SDK captures. Expected ids were read off the capture files by hand
// (`shared/fixtures/{python,node}`, see the README there): 16 Python traces through
// `orders-api/prod` → Lambda `orders-fn` → sometimes `inventory-service`, and 10 Node traces
// `shop-frontend` → `catalog-service`.

fn fixture_traces() -> Vec<(AssembledTrace, fluoro_proto::api::TraceSummary)> {
    fixture_docs()
        .into_iter()
        .map(|(id, docs)| {
            let t = assemble(id, docs);
            let s = summarize(&t);
            (t, s)
        })
        .collect()
}

/// Every captured document, grouped by trace (traces in first-seen order).
pub(crate) fn fixture_docs() -> Vec<(TraceId, Vec<Segment>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    let mut order: Vec<String> = Vec::new();
    let mut docs: std::collections::HashMap<String, Vec<Segment>> = Default::default();
    for sdk in ["python", "node"] {
        let dir = root.join(sdk);
        let index = std::fs::read_to_string(dir.join("index.jsonl"))
            .unwrap_or_else(|e| panic!("fixtures missing at {}: {e}", dir.display()));
        for line in index.lines().filter(|l| !l.trim().is_empty()) {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            let file = entry["file"].as_str().unwrap();
            let bytes = std::fs::read(dir.join(file)).unwrap();
            let f = frame::decode(&bytes).unwrap();
            let seg = Segment::from_json(f.body).unwrap();
            let id = seg.trace_id.clone().unwrap();
            if !docs.contains_key(&id) {
                order.push(id.clone());
            }
            docs.entry(id).or_default().push(seg);
        }
    }
    order
        .into_iter()
        .map(|id| (TraceId::parse(&id).unwrap(), docs.remove(&id).unwrap()))
        .collect()
}

#[test]
fn fixture_traces_match_hand_worked_ids() {
    let traces = fixture_traces();
    assert_eq!(traces.len(), 26);
    let run = |expr: &str| -> BTreeSet<String> {
        let f = parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        traces
            .iter()
            .filter(|(t, s)| matches(&f, t, s))
            .map(|(t, _)| t.id.to_string())
            .collect()
    };
    let set = |ids: &[&str]| -> BTreeSet<String> { ids.iter().map(|s| (*s).to_owned()).collect() };

    // Roots answering 5xx: three API Gateway 502/500s, two shop-frontend 502s.
    assert_eq!(
        run("fault"),
        set(&[
            "1-6b09aba5-e51d6fb3253cb064452df5a4",
            "1-6b09aba6-1d4245d634df221ec6512b16",
            "1-6b09aba6-4fc269e414f0275221bc0e65",
            "1-6b09abae-7e3199acce603d0709881263",
            "1-6b09abaf-3ccb9aecaf99e92d2f04cea9",
        ])
    );
    // `tier` annotation "gold": Python handle_order subsegments and Node frontend segments.
    let gold = [
        "1-6b09aba6-342aa0327fcc3566a68097f0",
        "1-6b09aba7-adce1ec8ec1f106683e71d85",
        "1-6b09aba8-6a393423a9c828d94d5b4072",
        "1-6b09aba8-f1517354f16c4f9248c017f2",
        "1-6b09abae-f47fdd9445ec71a2b334fd41",
        "1-6b09abae-7e3199acce603d0709881263",
        "1-6b09abae-a585cdb8d1451d2911d83be1",
        "1-6b09abaf-941f05af880c4276886295be",
        "1-6b09abaf-3ccb9aecaf99e92d2f04cea9",
    ];
    assert_eq!(run("annotation.tier = \"gold\""), set(&gold));
    assert_eq!(
        run("annotation.tier = \"gold\" AND !fault"),
        set(&[
            gold[0], gold[1], gold[2], gold[3], gold[4], gold[6], gold[7]
        ])
    );
    // Users: only the Node frontend records `alice`.
    let alice = [
        "1-6b09abae-314d5315d17854b26f3024de",
        "1-6b09abae-a585cdb8d1451d2911d83be1",
        "1-6b09abaf-3ccb9aecaf99e92d2f04cea9",
        "1-6b09abaf-4c9f9994b78a872775222c44",
        "1-6b09abaf-e0642f501cbe5db69a5b62a6",
    ];
    assert_eq!(run("user = \"alice\""), set(&alice));
    assert_eq!(
        run("user = \"cust-0007\""),
        set(&["1-6b09aba5-e51d6fb3253cb064452df5a4"])
    );
    // Throttled at the root with a priority order: one trace (the other 429s are not priority).
    assert_eq!(
        run("http.status = 429 AND annotation.priority = true"),
        set(&["1-6b09aba6-342aa0327fcc3566a68097f0"])
    );
    // POST requests that failed at the root (all Node requests are GETs).
    assert_eq!(
        run("http.method = \"POST\" AND (error OR fault)"),
        set(&[
            "1-6b09aba6-1d4245d634df221ec6512b16",
            "1-6b09aba6-4fc269e414f0275221bc0e65",
            "1-6b09aba6-342aa0327fcc3566a68097f0",
            "1-6b09aba8-6a393423a9c828d94d5b4072",
            "1-6b09aba8-041e513a3c5bfe805a27d5da",
        ])
    );
    // inventory-service faulted once; it answered 4xx (429 included) four times.
    assert_eq!(
        run("service(\"inventory-service\") { fault }"),
        set(&["1-6b09aba5-e51d6fb3253cb064452df5a4"])
    );
    assert_eq!(
        run("service(\"inventory-service\") { error }"),
        set(&[
            "1-6b09aba6-a1bbc8b2b08eef748183db0a",
            "1-6b09aba6-342aa0327fcc3566a68097f0",
            "1-6b09aba8-6a393423a9c828d94d5b4072",
            "1-6b09aba8-041e513a3c5bfe805a27d5da",
        ])
    );
    // Traces that never reach inventory-service: three Python ones and every Node one.
    assert_eq!(
        run("!service(\"inventory-service\")"),
        set(&[
            "1-6b09aba5-96748c1a5f10d9c57621ccaf",
            "1-6b09aba6-1d4245d634df221ec6512b16",
            "1-6b09aba6-4fc269e414f0275221bc0e65",
            "1-6b09abae-f47fdd9445ec71a2b334fd41",
            "1-6b09abae-7e3199acce603d0709881263",
            "1-6b09abae-5637488229147b80a3dac542",
            "1-6b09abae-314d5315d17854b26f3024de",
            "1-6b09abae-a585cdb8d1451d2911d83be1",
            "1-6b09abaf-941f05af880c4276886295be",
            "1-6b09abaf-3ccb9aecaf99e92d2f04cea9",
            "1-6b09abaf-4c9f9994b78a872775222c44",
            "1-6b09abaf-e0642f501cbe5db69a5b62a6",
            "1-6b09abaf-e264cab36128c1ad9ce407c2",
        ])
    );
    // The crashed Lambda handler: only the function node faulted, not the Lambda service node.
    let crashed = set(&["1-6b09aba6-1d4245d634df221ec6512b16"]);
    assert_eq!(
        run("service(id(name: \"orders-fn\", type: \"AWS::Lambda::Function\")) { fault }"),
        crashed
    );
    assert_eq!(run("service(\"orders-fn\") { fault }"), crashed);
    assert_eq!(
        run("service(id(name: \"orders-fn\", type: \"AWS::Lambda\")) { fault }"),
        set(&[])
    );
    // Lambda service → function: the caller is a segment, so the record is the function segment.
    assert_eq!(
        run("edge(id(type: \"AWS::Lambda\"), id(type: \"AWS::Lambda::Function\")) { fault }"),
        crashed
    );
    // The frontend's calls to catalog-service that got a 5xx (the calling subsegment's view).
    assert_eq!(
        run("edge(\"shop-frontend\", \"catalog-service\") { fault }"),
        set(&[
            "1-6b09abae-7e3199acce603d0709881263",
            "1-6b09abaf-3ccb9aecaf99e92d2f04cea9",
        ])
    );
    // A group over the fixtures.
    let groups = [GroupFilter {
        name: "gold".to_owned(),
        arn: "arn:aws:xray:us-east-1:123456789012:group/gold/X".to_owned(),
        filter: parse("annotation.tier = \"gold\"").unwrap(),
    }];
    let opts = EvalOptions {
        groups: &groups,
        ignore_case: false,
    };
    let f = parse("group.name = \"gold\" AND user = \"alice\"").unwrap();
    let got: BTreeSet<String> = traces
        .iter()
        .filter(|(t, s)| matches_with(&f, t, s, &opts))
        .map(|(t, _)| t.id.to_string())
        .collect();
    assert_eq!(got, set(&[alice[1], alice[2]]));
}

// ---------------------------------------------------------------------------------------------
// Index terms: `needs(f)` must hold for every trace that `f` matches (the store reads only the
// traces whose terms satisfy it, and the evaluator decides among them). Random filters over the
// names, annotations, users and statuses of the real SDK captures.

mod pushdown_soundness {
    use proptest::prelude::*;

    use super::*;

    fn leaf() -> impl Strategy<Value = String> {
        let services = prop::sample::select(vec![
            "orders-api/prod",
            "orders-fn",
            "inventory-service",
            "shop-frontend",
            "catalog-service",
            "Orders-Fn",
            "nope",
        ]);
        let keys = prop::sample::select(vec!["tier", "priority", "customer", "Tier", "missing"]);
        let values = prop::sample::select(vec![
            "\"gold\"",
            "\"GOLD\"",
            "\"silver\"",
            "true",
            "false",
            "1",
            "0",
            "429",
        ]);
        let users = prop::sample::select(vec!["alice", "ALICE", "cust-0007", "bob"]);
        let statuses = prop::sample::select(vec![200u16, 404, 429, 500, 502]);
        let blocks = prop::sample::select(vec![
            "",
            " { fault }",
            " { error }",
            " { throttle }",
            " { fault OR error }",
            " { fault AND error }",
            " { !fault }",
            " { fault = true }",
            " { fault = false }",
            " { ok }",
            " { http.status = 429 }",
            " { root = true and fault = true }",
        ]);
        let simple = prop::sample::select(vec![
            "fault",
            "error",
            "throttle",
            "ok",
            "partial",
            "fault = true",
            "error = false",
            "http.status >= 500",
            "user CONTAINS \"a\"",
            "responsetime > 0.01",
            "service() { fault }",
            "service(id(type: \"AWS::Lambda::Function\")) { fault }",
            "rootcause.fault.service { name = \"orders-fn\" }",
        ]);
        prop_oneof![
            simple.prop_map(str::to_owned),
            statuses.prop_map(|s| format!("http.status = {s}")),
            users.prop_map(|u| format!("user = \"{u}\"")),
            (keys.clone(), values).prop_map(|(k, v)| format!("annotation.{k} = {v}")),
            keys.clone().prop_map(|k| format!("annotation.{k}")),
            keys.prop_map(|k| format!("annotation.{k} > 0")),
            (services.clone(), blocks.clone()).prop_map(|(s, b)| format!("service(\"{s}\"){b}")),
            (services.clone(), services, blocks)
                .prop_map(|(a, c, b)| format!("edge(\"{a}\", \"{c}\"){b}")),
        ]
    }

    fn expr() -> impl Strategy<Value = String> {
        leaf().prop_recursive(4, 16, 3, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} AND {b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} OR {b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} {b}")),
                inner.prop_map(|a| format!("!({a})")),
            ]
        })
    }

    /// Changes one document of the captures: the random trace sets are the captures with a few
    /// flags, statuses, users and annotations changed.
    fn mutate(seg: &mut Segment, kind: u8) {
        use fluoro_proto::segment::AnnotationValue;
        match kind {
            0 => seg.fault = Some(true),
            1 => seg.error = Some(true),
            2 => seg.throttle = Some(true),
            3 => seg.user = Some("alice".into()),
            4 => seg.user = Some("bob".into()),
            5 => {
                seg.annotations
                    .get_or_insert_default()
                    .insert("tier".into(), AnnotationValue::String("GOLD".into()));
            }
            6 => {
                seg.annotations
                    .get_or_insert_default()
                    .insert("priority".into(), AnnotationValue::Bool(true));
            }
            7 => {
                seg.annotations.get_or_insert_default().insert(
                    "customer".into(),
                    AnnotationValue::Number(serde_json::Number::from(1)),
                );
            }
            8 => seg.fault = Some(false),
            _ => {
                if let Some(sub) = seg.subsegments.as_mut().and_then(|v| v.first_mut()) {
                    sub.fault = Some(true);
                    sub.user = Some("alice".into());
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn needs_hold_for_every_matching_trace(
            text in expr(),
            changes in prop::collection::vec((0usize..64, 0usize..16, 0u8..10), 0..12),
        ) {
            static DOCS: std::sync::OnceLock<Vec<(TraceId, Vec<Segment>)>> =
                std::sync::OnceLock::new();
            let mut docs = DOCS.get_or_init(fixture_docs).clone();
            for (t, d, kind) in changes {
                let t = t % docs.len();
                let segs = &mut docs[t].1;
                let d = d % segs.len();
                mutate(&mut segs[d], kind);
            }
            let mut traces: Vec<_> = docs
                .into_iter()
                .map(|(id, d)| {
                    let t = assemble(id, d);
                    let s = summarize(&t);
                    (t, s)
                })
                .collect();
            traces.push(built_trace());
            let f = parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let need = needs(&f);
            for ignore_case in [false, true] {
                let opts = EvalOptions { groups: &[], ignore_case };
                for (t, s) in &traces {
                    if matches_with(&f, t, s, &opts) {
                        let terms = terms(t, s);
                        // The store indexes the summary without root causes: same facts.
                        prop_assert_eq!(&terms, &super::terms(t, &crate::trace::summarize_for_index(t)));
                        prop_assert!(
                            need.as_ref().is_none_or(|n| n.holds(&terms)),
                            "{text} matches {} (ignore_case {ignore_case}) but {need:?} fails on its terms",
                            t.id
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn selective_expressions_narrow() {
        for text in [
            "annotation.tier = \"gold\"",
            "service(\"inventory-service\") { fault }",
            "edge(\"shop-frontend\", \"catalog-service\") { fault }",
            "user = \"alice\" AND responsetime > 1",
            "http.status = 429",
            "fault",
        ] {
            let need = needs(&parse(text).unwrap());
            assert!(need.is_some_and(|n| !n.drivers().is_empty()), "{text}");
        }
        // Nested conjunctions are flattened: each fact can drive the scan (the store picks the
        // rarest), here the tier, the service and the service's errors.
        let need =
            needs(&parse("annotation.tier = \"gold\" AND service(\"x\") { error }").unwrap());
        assert_eq!(need.unwrap().drivers().len(), 3);
        for text in [
            "!fault",
            "responsetime > 1",
            "fault OR responsetime > 1",
            "http.status = 200",
        ] {
            assert_eq!(needs(&parse(text).unwrap()), None, "{text}");
        }
    }
}
