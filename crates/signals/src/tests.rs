//! Behaviour tests per decision and context rule. Pattern-family tests live next to each
//! detector (`pii.rs`, `workplace.rs`, `normalize.rs`, `lexicon.rs`). All test sentences are
//! written here, so the suite needs nothing outside the crate.

use std::sync::OnceLock;

use crate::{Report, Severity, Signals, SpanKind};

fn signals() -> &'static Signals {
    static S: OnceLock<Signals> = OnceLock::new();
    S.get_or_init(|| Signals::new().expect("builds"))
}

fn scan(t: &str) -> Report {
    signals().scan(t)
}

fn threat(t: &str) -> bool {
    scan(t).threat.decision
}

/// Every text is a threat (the failing one named).
fn all_threats(texts: &[&str]) {
    for t in texts {
        assert!(threat(t), "{t}");
    }
}

/// No text is a threat (the failing one named).
fn no_threats(texts: &[&str]) {
    for t in texts {
        assert!(!threat(t), "{t}");
    }
}

fn dox(t: &str) -> bool {
    scan(t).doxxing.decision
}

// ---------------------------------------------------------------- threats

#[test]
fn direct_threats_en_fr() {
    assert!(threat("I'm going to kill you, Marcus."));
    assert!(threat("ur dead. watch ur back"));
    assert!(threat("Je vais te buter, tu m'entends ?"));
    assert!(threat("T'ES MORT. DORS BIEN."));
}

#[test]
fn incitement_and_calls_on_others() {
    assert!(threat("If anyone runs into Kevin tonight, stab him."));
    assert!(threat("Someone should shoot that councillor."));
    assert!(threat(
        "Le premier qui croise Julie, cassez-lui les jambes."
    ));
}

#[test]
fn harm_stated_as_a_norm_against_people() {
    all_threats(&[
        "All women should be shot.",
        "Trans people should all be killed.",
        "Those people deserve to die.",
        "The only good immigrant is a dead immigrant.",
        "Les femmes devraient toutes être abattues.",
        "Les immigrés devraient être pendus.",
        "Les musulmans méritent de mourir.",
    ]);
    // The same norm about a thing, negated, or condemned (the rule alone: the lexical model
    // has its own errors, measured in BENCHMARKS.md).
    let rules = |t: &str| signals().scan_rules_only(t).threat.decision;
    for t in [
        "The bill should be killed in committee.",
        "Weeds must be killed at the root or they come back.",
        "The old shed should be burned down and rebuilt.",
        "Les mauvaises herbes doivent être brûlées.",
        "Nobody should be shot for their religion.",
        "Les musulmans ne méritent pas de mourir.",
        "Saying that immigrants should be hanged is disgusting.",
    ] {
        assert!(!rules(t), "{t}");
    }
}

#[test]
fn violent_words_on_the_authors_own_things_are_not_threats() {
    no_threats(&[
        "I'm going to kill this spreadsheet before it kills me.",
        "I'm going to smash my personal best at the marathon this year.",
        "J'ai tellement faim que je vais massacrer ce burger.",
        "We're going to attack the backlog first thing Monday.",
        "I'll smash the garlic and chop the chillies, you just stir.",
        "Je vais attaquer la relecture de votre rapport demain.",
        "On va abattre la vieille cloison de la cave la semaine prochaine.",
    ]);
    // With an article the object may be anyone: a person, an animal or a place of people
    // keeps the threat.
    all_threats(&[
        "I'm going to kill the bastard when I see him.",
        "I will shoot the referee tonight.",
        "Je vais tuer le chien de ma voisine.",
        "I'm going to burn the house down tonight.",
    ]);
    // The same determiners before a person, or a place full of people.
    all_threats(&[
        "I'm going to kill this guy when I see him.",
        "Je vais tuer ma voisine ce soir.",
        "Je vais tuer mon voisin ce soir.",
        "I'm going to blow up this school on Friday.",
    ]);
}

#[test]
fn rhetorical_calls_keep_their_own_negation() {
    assert!(threat(
        "Why hasn't anyone stabbed Pauline yet? What are we waiting for?"
    ));
    assert!(threat("Pourquoi personne n'a encore tiré sur Nathalie ?"));
    assert!(!threat(
        "No one should ever stab anyone over a parking space."
    ));
}

#[test]
fn a_context_far_from_the_threat_in_a_long_post_does_not_cancel_it() {
    let story = "My sister told me last week what he did at the family dinner, and honestly \
                 everyone at the table just watched and let it happen. He thinks that because \
                 he is family he is safe. Next time I see Kieran alone I am going to break \
                 every finger on his hand.";
    assert!(threat(story));
    // Near it, the same context still cancels.
    assert!(!threat(
        "The court heard that he told her \"I am going to break every finger on your hand\"."
    ));
}

#[test]
fn veiled_threats() {
    assert!(threat(
        "Nice car, Tom. Shame if the brakes failed on the motorway."
    ));
    assert!(threat("Profite bien de ton dernier week-end, Léa."));
}

#[test]
fn swatting_incitement() {
    let r = scan(
        "Call 911 and say there's a hostage at 12 Oak Street, Dayton, OH 45402. Make it loud.",
    );
    assert!(r.threat.decision, "{r:?}");
    assert!(r.evidence.contains(&"threat.swatting"));
}

#[test]
fn harm_aimed_at_the_reader_without_a_verb_of_intent() {
    // Questions and outcomes: no "I will", no call, no object pronoun next to a verb.
    let r = scan("Ever wondered how long your flat takes to burn, Gary?");
    assert!(r.threat.decision, "{r:?}");
    assert!(r.evidence.contains(&"threat.aimed_at_reader"));
    assert!(threat(
        "Tu crois que ta bagnole crame en combien de temps ?"
    ));
    // The same harm reported in the past, or about no one, stays under the line.
    assert!(!threat("The old mill burned down in 1998."));
    assert!(!threat("Did you see the barn that burned last night?"));
}

#[test]
fn typo_variants_do_not_count_as_harm_aimed_at_the_reader() {
    // "planet" is a typo variant of "plante" (stab): evidence enough next to "je vais", not
    // on its own with a "you" somewhere in the post.
    assert!(!threat("Are you going to the Planet Fitness on 5th later?"));
}

#[test]
fn harm_told_by_its_outcome_or_the_body_part() {
    assert!(threat(
        "$300 to whoever breaks that ref's jaw after the game tonight."
    ));
    assert!(threat(
        "Next time I see him I'm breaking his nose and both his legs."
    ));
    assert!(threat(
        "Whoever finds him, make sure he doesn't get back up."
    ));
    assert!(threat(
        "Si quelqu'un le croise, faites en sorte qu'il ne se relève pas."
    ));
    assert!(threat(
        "T'as jusqu'à vendredi, après tu remarcheras plus jamais."
    ));
    // "breaking" is news only as "breaking news".
    assert!(!threat(
        "Breaking news: the council votes to close the library."
    ));
}

#[test]
fn bounties_and_the_present_as_future() {
    assert!(threat(
        "Dix mille balles au premier qui lui casse la gueule."
    ));
    assert!(threat(
        "Lundi on l'attend devant chez lui et on le défonce."
    ));
    assert!(threat(
        "You pay me by Friday or you'll end up in the canal."
    ));
}

#[test]
fn a_negation_window_opening_inside_a_word_is_no_negation() {
    // The 30-byte window before "égorger" opens in "u|ne": that "ne" is not a word.
    assert!(threat(
        "Poste encore une photo de moi et je viens t'égorger."
    ));
}

#[test]
fn a_journalist_is_a_target_not_a_news_context() {
    assert!(threat(
        "That journalist lied about us again. Someone needs to put her in hospital."
    ));
}

#[test]
fn urging_a_false_report_is_swatting_not_a_report_received() {
    let r = scan(
        "Quelqu'un signale une fusillade au 4 rue des Lilas, 44000 Nantes, qu'ils rentrent armés.",
    );
    assert!(r.threat.decision, "{r:?}");
    assert!(!r.evidence.contains(&"context.report"), "{r:?}");
}

#[test]
fn spelling_variants_are_robust() {
    assert!(threat("I want to k1ll all of them."));
    assert!(threat("I will murdr you"), "char deletion");
    assert!(threat("Je veux t u e r ce type"), "spaced letters");
    assert!(threat("je vais te tuer"), "no accents needed");
    assert!(threat("JE VAIS TE TUER"), "caps");
}

#[test]
fn negation_cancels() {
    let r = scan("Nobody should hurt her, ever.");
    assert!(!r.threat.decision, "{r:?}");
    assert!(!threat("Je ne vais pas te frapper, calme-toi."));
}

#[test]
fn quoting_and_reporting_cancel() {
    let r = scan("Someone commented \"I'll kill you\" under my photo. Reported it.");
    assert!(!r.threat.decision, "{r:?}");
    assert!(!threat(
        "Il m'a écrit « je vais te tuer » hier soir, j'ai porté plainte."
    ));
}

#[test]
fn news_cancels() {
    assert!(!threat(
        "Court hears the defendant told the victim he would kill her; sentencing next week."
    ));
    assert!(!threat(
        "Le prévenu a été condamné pour avoir menacé de tuer son voisin."
    ));
}

#[test]
fn gaming_and_sports_cancel() {
    assert!(!threat("gg, I'm gonna destroy you next round noob"));
    assert!(!threat("je vais te tuer au prochain round, prépare-toi"));
    assert!(!threat("We're going to murder them on Saturday ⚽"));
}

#[test]
fn idioms_cancel() {
    assert!(!threat("this joke killed me 😂"));
    assert!(!threat("tu me tues mdr"));
    assert!(!threat("I could murder a pint right now"));
}

#[test]
fn fiction_cancels() {
    assert!(!threat(
        "In chapter 3 the villain swears he will kill the detective."
    ));
    assert!(!threat(
        "Dans le roman, le tueur promet de la tuer à l'aube."
    ));
}

#[test]
fn counter_speech_cancels() {
    assert!(!threat(
        "Saying \"death to all immigrants\" is not okay and you should be ashamed."
    ));
}

// ---------------------------------------------------------------- doxxing

#[test]
fn home_address_of_a_third_party_is_doxxing() {
    let r = scan("She lives at 42 Maple Avenue, Columbus, OH 43215. Go tell her what you think.");
    assert!(r.doxxing.decision, "{r:?}");
    assert_eq!(r.spans.len(), 1);
    assert_eq!(r.spans[0].kind, SpanKind::Address);
    assert!(dox(
        "Voici son adresse : 12 rue des Lilas, 69003 Lyon. Faites tourner."
    ));
}

#[test]
fn personal_phone_with_call_to_contact_is_doxxing() {
    assert!(dox("His number is 07911 123456, text him all night."));
    assert!(dox("Son numéro perso c'est 06 12 34 56 78, appelez-le."));
}

#[test]
fn business_listing_is_not_doxxing() {
    let r =
        scan("New bakery just opened at 18 High Street, Leeds LS1 4HR! Best croissants in town.");
    assert!(!r.doxxing.decision, "{r:?}");
    assert_eq!(r.spans.len(), 1, "the span is still reported for redaction");
    assert!(!r.spans[0].doxxing);
}

#[test]
fn public_office_and_customer_service_are_not_doxxing() {
    assert!(!dox(
        "Pour les cartes d'identité, appelez la mairie au 01 23 45 67 89."
    ));
    assert!(!dox(
        "Their customer service line is (415) 555-2671 but nobody picks up."
    ));
}

#[test]
fn self_disclosure_for_business_is_not_doxxing() {
    assert!(!dox(
        "Plombier sur Nantes, joignable au 06 11 22 33 44 pour un devis gratuit."
    ));
    assert!(!dox("Tutoring maths in Leeds, reach me at 07911 123456."));
}

#[test]
fn car_sale_plate_is_not_doxxing() {
    assert!(!dox(
        "À vendre Clio 4, plaque AB-123-CD, 85 000 km, 7 500 €."
    ));
}

#[test]
fn landmark_coordinates_are_not_doxxing() {
    assert!(!dox(
        "Fun fact: 48.85837, 2.29448 is the Eiffel Tower. Enjoy the view."
    ));
}

#[test]
fn tech_support_ip_is_not_doxxing() {
    assert!(!dox(
        "My router at 192.0.2.1 stopped answering ping after the update, any ideas?"
    ));
}

#[test]
fn order_numbers_and_versions_are_not_spans() {
    let r = scan("Order 1234-5678 shipped, tracking says v2.3.4.1 of the app is needed.");
    assert!(r.spans.is_empty(), "{:?}", r.spans);
    assert!(!r.doxxing.decision);
}

#[test]
fn fictional_address_is_not_doxxing() {
    assert!(!dox(
        "Fun fact: 742 Evergreen Terrace only exists in fiction."
    ));
    // The famous address is its own context, although it lies inside the span.
    assert!(!dox(
        "The Simpsons live at 742 Evergreen Terrace, Springfield."
    ));
    assert!(!dox(
        "Maigret habite au 132 boulevard Richard-Lenoir, Simenon le rappelle dans ses romans."
    ));
}

#[test]
fn listings_and_events_are_not_doxxing() {
    for t in [
        "To let: Flat 10, 79 Albert Road, Brighton BN2 3AS. £850 pcm, viewings on 01273 493359.",
        "Housewarming at my new place Saturday!! 5225 Sycamore Ct Apt 4B, Omaha, NE 68151. BYOB",
        "Appartement T3 à louer, 75 bis chemin du Moulin, 93300 Aubervilliers. Agence Immo Ouest.",
        "Concert gratuit samedi à la salle des fêtes, 26 route de Lyon, 74000 Annecy.",
    ] {
        assert!(!dox(t), "{t}");
    }
}

#[test]
fn plate_tied_to_a_named_person_is_doxxing() {
    assert!(dox(
        "Plate KX19 ABC belongs to Dan Hughes, he parks it outside his flat."
    ));
}

#[test]
fn ip_tied_to_a_person_is_doxxing() {
    assert!(dox(
        "Found the guy behind @ghost: his home IP is 203.0.113.77."
    ));
}

#[test]
fn name_and_workplace_is_doxxing() {
    let r =
        scan("That's Jenna Smith, cashier at the Walmart in Tulsa. Screenshot before she deletes.");
    assert!(r.doxxing.decision, "{r:?}");
    assert!(r.spans.iter().any(|s| s.kind == SpanKind::NameWorkplace));
    // Roles with a qualifier, school years and grades, French roles and classes.
    for t in [
        "That's Jeff Crane — a nurse on ward 8 at St Anne's. Email the hospital.",
        "Name and shame: Dean Robinson, Year 12 at St Aidan's Academy in Newcastle.",
        "Gordon Jones is in Year 10 at Ashfield School, share it in the local groups.",
        "Camille Bousquet, infirmière de nuit au CHU de Lyon. Écrivez à la direction.",
        "Noël Le Goff est agent d'accueil à la CAF de Montpellier, allez au guichet.",
    ] {
        let r = scan(t);
        assert!(
            r.spans.iter().any(|s| s.kind == SpanKind::NameWorkplace),
            "{t}: {r:?}"
        );
    }
}

// ---------------------------------------------------------------- combined and output

#[test]
fn address_with_call_to_violence_is_most_severe() {
    let r = scan("He lives at 9 Elm Road, Derby DE1 3AB. Go break his legs.");
    assert_eq!(r.severity(), Severity::DoxxingAndThreat, "{r:?}");
    assert!(Severity::DoxxingAndThreat > Severity::Threat && Severity::Threat > Severity::Doxxing);
    assert!(r.evidence.contains(&"combined.doxxing_and_threat"));
}

#[test]
fn neutral_post_is_none() {
    let r = scan("Which coffee grinder would you recommend under 100?");
    assert_eq!(r.severity(), Severity::None);
    assert!(r.spans.is_empty() && r.evidence.is_empty());
}

#[test]
fn char_offsets_count_code_points() {
    let t = "Élodie habite au 3 rue de l'Église, 75004 Paris. Allez-y.";
    let r = scan(t);
    let s = r.spans.first().expect("address span");
    assert_eq!(&t[s.start..s.end], "3 rue de l'Église, 75004 Paris");
    let chars: String = t
        .chars()
        .skip(s.char_start)
        .take(s.char_end - s.char_start)
        .collect();
    assert_eq!(chars, "3 rue de l'Église, 75004 Paris");
}

#[test]
fn report_serialises_without_the_text() {
    let t = "call her at 06 12 34 56 78, she lives alone";
    let json = serde_json::to_string(&scan(t)).expect("serialises");
    assert!(json.contains("\"kind\":\"phone\""));
    assert!(!json.contains("06 12 34"), "no text in the report");
}

#[test]
fn scan_lines_reads_text_and_json() {
    let input = "plain line with 06 12 34 56 78\n{\"id\": 7, \"text\": \"je vais te tuer\"}\n\n";
    let mut out = Vec::new();
    let stats = crate::scan_lines(signals(), input.as_bytes(), &mut out).expect("scans");
    assert_eq!(stats.lines, 2);
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["id"], 7);
    assert_eq!(lines[1]["severity"], "threat");
    assert_eq!(lines[0]["spans"][0]["kind"], "phone");
}

// ---------------------------------------------------------------- robustness

/// A small deterministic generator so the test needs no extra crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn check_offsets(t: &str) {
    let r = scan(t);
    let mut last_end = 0;
    for s in &r.spans {
        assert!(s.start < s.end && s.end <= t.len(), "{s:?} in {t:?}");
        assert!(
            t.is_char_boundary(s.start) && t.is_char_boundary(s.end),
            "{s:?} in {t:?}"
        );
        assert!(s.start >= last_end, "overlap");
        last_end = s.end;
        assert_eq!(t[..s.start].chars().count(), s.char_start);
        assert_eq!(t[..s.end].chars().count(), s.char_end);
    }
    assert!((0.0..=1.0).contains(&r.doxxing.score) && (0.0..=1.0).contains(&r.threat.score));
}

#[test]
fn random_inputs_keep_offsets_valid() {
    // Pieces that exercise every detector, glued with random bytes and multi-byte chars.
    const PIECES: &[&str] = &[
        "06 12 34 56 78",
        "+44 7911 123456",
        "a@b.fr",
        "203.0.113.9",
        "2001:db8::1",
        "48.8566, 2.3522",
        "45°54'25.5\"N 6°09'23.6\"E",
        "AB-123-CD",
        "plaque",
        "12 rue de l'Église, 75004 Paris",
        "Flat 2, 9 Elm St",
        "works at the",
        "je vais te tuer",
        "🔪",
        "é",
        "ß",
        "\u{301}",
        "’",
        "«",
        " ",
        ",",
        ".",
        "\n",
        "k1ll",
        "t u e r",
        "Œ",
        "ﬁ",
        "İ",
        "\u{202f}",
        "9",
        "@",
        "°",
        "'",
        "\"",
    ];
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for _ in 0..3000 {
        let mut t = String::new();
        for _ in 0..(rng.next() % 12) {
            if rng.next().is_multiple_of(4) {
                // Random code point (valid char).
                let c = char::from_u32((rng.next() % 0x2_0000) as u32).unwrap_or('x');
                t.push(c);
            } else {
                t.push_str(PIECES[(rng.next() % PIECES.len() as u64) as usize]);
            }
        }
        check_offsets(&t);
    }
}

#[test]
fn random_bytes_lossy_utf8() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let len = (rng.next() % 200) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
        check_offsets(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn match_count_agrees_with_str_matches() {
    let hays = [
        "",
        "a",
        "aaaa",
        "kill kill",
        "é kill é",
        "xkillx\u{1}kill",
        "abab aba",
    ];
    let needles = ["a", "aa", "kill", "é", "aba", "ab", "x", "zz", "\u{1}k"];
    for h in hays {
        for n in needles {
            assert_eq!(
                super::count_matches(h, n),
                h.matches(n).count(),
                "{h:?} {n:?}"
            );
            for k in 0..4 {
                assert_eq!(
                    super::more_matches_than(h, n, k),
                    h.matches(n).count() > k,
                    "{h:?} {n:?} {k}"
                );
            }
        }
    }
    // And on random texts over the needles' chars.
    let mut texts = crate::TestTexts::new("abé k\u{1}ilx", 40, 0x2545_f491_4f6c_dd1d);
    for _ in 0..20_000 {
        let (h, n) = (texts.text(), texts.text());
        let k = (texts.number() % 3) as usize;
        assert_eq!(
            super::count_matches(&h, &n),
            h.matches(n.as_str()).count(),
            "{h:?} {n:?}"
        );
        assert_eq!(
            super::more_matches_than(&h, &n, k),
            h.matches(n.as_str()).count() > k,
            "{h:?} {n:?} {k}"
        );
    }
}

/// "I know where you live" is how friends say they will come by with your things; "you'll
/// regret buying that" is about a purchase. The same phrases stay threats without the errand.
#[test]
fn errands_and_regretted_purchases_are_not_threats() {
    no_threats(&[
        "Je sais où tu habites, je te ramène tes clés ce soir.",
        "We know where you live, so we're coming over with the birthday cake at 7.",
        "Tu vas regretter d'avoir acheté ce téléphone, la batterie tient pas.",
        "Mark my words, you'll regret buying that e-scooter.",
        "Landing at 4, I'll find you at arrivals. Bring snacks.",
    ]);
    all_threats(&[
        "Je sais où tu habites. Tu vas le regretter.",
        "We know where you live. You'll regret this.",
        "I'll find you, and when I do you won't walk again.",
    ]);
}

/// An article before a part of the body reaches a person: "casser les bras de ce streamer",
/// "beat the life out of you" are threats, not acts on things.
#[test]
fn body_parts_after_an_article_are_a_person() {
    all_threats(&[
        "Je file 300 € à qui casse les bras de ce streamer à la convention. MP pour le cash.",
        "I'm still going to beat the life out of you, Nicholas.",
        // A pronoun joined to the imperative by a hyphen is the person, not an article.
        "si vous croisez adrien dupuis en ville, défoncez-le de ma part.",
        "500 € si tu casses la mâchoire de Alix Pineau, à l'accueil de l'Ibis de la gare.",
        "Je suis en bas. Je vois ta lumière. Descends ou je monte avec le marteau.",
    ]);
}

/// A norm whose subject is "no one" is counter-speech, a victim "getting murdered" is not an
/// act called for, and praise is not a threat ("gorgeous" is not "gorge", "make those kids
/// smile" is not "make those … suffer").
#[test]
fn negated_norms_victims_and_praise_are_not_threats() {
    no_threats(&[
        "No immigrant deserves to die.",
        "Aucun homme ne mérite d'être pendu.",
        "Let's not stand by while women are getting murdered.",
        "Women like you are gorgeous.",
        "Trans people like you are absolute heroes.",
    ]);
    assert!(threat("Immigrants deserve to die."));
    assert!(threat("People like you end up in a ditch."));
}

/// A news word beside a violent act the writer says they will do is the setting, not a
/// report ("dès qu'il sort du tribunal"); a first-person threat quoted in a court report stays
/// a report.
#[test]
fn news_words_do_not_cancel_the_writers_own_threat() {
    assert!(threat(
        "je vais planter René dès qu'il sort du tribunal, je me fous de ce qui m'arrivera après"
    ));
    assert!(!threat(
        "Chronique judiciaire : selon le parquet, il aurait crié « je vais tous vous cramer » \
         avant de verser de l'essence sur le capot. Le jugement a été renvoyé au 2 juin."
    ));
}

/// A plate with where its owner leaves the car, and calls to flood someone's phone, are
/// doxxing; the same plate in a sale ad is not.
#[test]
fn where_the_car_is_left_and_calls_to_flood_a_phone() {
    for t in [
        "RENÉE ROCHE = Mégane AV940ZB. elle la laisse rue de la Gare, juste devant le tabac chaque soir",
        "LA SCÉNIC NOIRE KA-168-JF GARÉE SUR LE PARKING DE L'HÔPITAL C'EST CELLE DE CHARLES LEBRUN",
        "Qui veut appeler Martin Cyr ? +1 418.745.3360, repond apres 18h",
        "envoyez des pizzas et des appels à Agathe Camus au +33 6 99 95 23 78 toute la nuit",
    ] {
        assert!(dox(t), "{t}");
    }
    assert!(!dox(
        "Vends Mégane AV940ZB, 98 000 km, contrôle technique ok, 6 500 € à débattre"
    ));
}
