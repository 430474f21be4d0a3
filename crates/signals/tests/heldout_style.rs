//! Behaviour on sentences written for this test, NOT derived from the development set's
//! templates (different wording, places, registers), in the spirit of the held-out set: a
//! regression guard against rules that only memorise the dev templates.

use rempart_signals::{Severity, Signals};

const CASES: &[(Severity, &str)] = &[
    (Severity::DoxxingAndThreat, "Anyone near Leeds? Her flat is 14 Harrow Road, LS6 2AB. Go round and smash her windows."),
    (Severity::DoxxingAndThreat, "Pour ceux qui veulent lui rendre visite : 8 allée des Tilleuls, 35000 Rennes. Cassez-lui les genoux."),
    (Severity::DoxxingAndThreat, "his cell is (312) 555-0147 and he lives at 2210 W Fullerton Ave, Chicago, IL 60647 — somebody should shoot him"),
    (Severity::Doxxing, "Found her: 17 Belmont Crescent, Glasgow G12 8EY. Everyone message her what you think of her."),
    (Severity::Doxxing, "voilà son 06 71 23 45 98, appelez-la toute la nuit, elle mérite pas de dormir"),
    (Severity::Doxxing, "His personal email is mark.tilden77@gmail.com if anyone wants to tell him what they think."),
    (Severity::Doxxing, "Le mec qui m'a volé ma place de parking roule en Clio grise immatriculée FG-482-KL, il habite au 3 rue Danton à Brest."),
    (Severity::Doxxing, "She's at 48.11734, -1.67792 every night, that's her parents' place."),
    (Severity::Threat, "I swear I'm going to stab that referee when he leaves the stadium tonight."),
    (Severity::Threat, "Quelqu'un devrait lui faire la peau à ce traître, je paye l'essence."),
    (Severity::Threat, "Keep talking and you won't wake up tomorrow, I promise."),
    (Severity::Threat, "Je vais t'attendre devant chez toi et te défoncer la tête."),
    (Severity::Threat, "Call the cops on him and say he's got a gun and hostages, make them kick the door in."),
    (Severity::None, "That stand-up set absolutely killed me, I was crying."),
    (Severity::None, "Tu me tues avec tes blagues, arrête !"),
    (Severity::None, "Our bakery has moved: 22 rue Gambetta, 59000 Lille, open Tuesday to Sunday from 7am."),
    (Severity::None, "For bookings call the front desk on 020 7946 0321, Monday to Friday."),
    (Severity::None, "Selling my 2014 Golf, 98k miles, reg WX14 KLM, £6,500 ono, no timewasters."),
    (Severity::None, "The Eiffel Tower is at 48.8584, 2.2945 if you want to geotag your photos."),
    (Severity::None, "My router keeps dropping 192.168.1.254 after the firmware update, any ideas?"),
    (Severity::None, "The court heard that he had written \"I will kill you\" in a text to his ex-partner."),
    (Severity::None, "Nobody deserves to be beaten up for their opinions."),
    (Severity::None, "I'm going to destroy you in the next round, get ready noob."),
    (Severity::None, "Order 4417-2290-1183 was delivered to the pickup point yesterday."),
    (Severity::None, "Le tribunal a condamné l'homme qui avait menacé de brûler la maison de sa voisine."),
    (Severity::None, "Updated to version 10.4.22.1 and the crash is gone."),
    (Severity::None, "La mairie de Nantes est au 2 rue de l'Hôtel de Ville, ouverte du lundi au vendredi."),
    (Severity::None, "In the novel, the killer leaves notes at 12 Elm Street before each murder."),
    (Severity::None, "Quel match hier soir, on les a massacrés 4 à 0 !"),
    (Severity::None, "Just got my new phone, the battery life is incredible."),
    (Severity::None, "Merci à tous pour vos messages, je vais mieux."),
    (Severity::None, "If you need to reach me for the tutoring sessions, my number is 07700 912345."),
];

#[test]
fn fresh_sentences_get_the_expected_severity() {
    let signals = Signals::new().expect("built-in patterns compile");
    let mut wrong = Vec::new();
    for (want, text) in CASES {
        let r = signals.scan(text);
        for s in &r.spans {
            assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
            assert!(s.start < s.end && s.end <= text.len());
        }
        if r.severity() != *want {
            wrong.push(format!(
                "{want:?} != {:?}: {text} {:?}",
                r.severity(),
                r.evidence
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn fresh_doxxing_sentences_carry_the_right_spans() {
    let signals = Signals::new().expect("built-in patterns compile");
    let kinds = |text: &str| -> Vec<(String, String)> {
        signals
            .scan(text)
            .doxxing_spans()
            .map(|s| {
                (
                    s.kind.as_str().to_string(),
                    text[s.start..s.end].to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        kinds(CASES[0].1),
        vec![("address".to_string(), "14 Harrow Road, LS6 2AB".to_string())]
    );
    let fr = kinds(CASES[4].1);
    assert_eq!(
        fr,
        vec![("phone".to_string(), "06 71 23 45 98".to_string())]
    );
    let mail = kinds(CASES[5].1);
    assert_eq!(
        mail,
        vec![("email".to_string(), "mark.tilden77@gmail.com".to_string())]
    );
    let coords = kinds(CASES[7].1);
    assert_eq!(
        coords,
        vec![("coordinates".to_string(), "48.11734, -1.67792".to_string())]
    );
}
