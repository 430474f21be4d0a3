//! Cue lexicons, matched word by word over the folded text (with the hits an overlapping
//! Aho–Corasick search over every entry would give; see [`Lexicon`]).
//!
//! Every entry belongs to a [`Cue`] category and carries a rule name that ends up in the
//! report's evidence. Entries are written folded (ASCII lower case, no accents, see
//! [`crate::normalize`]). Matching rules per entry:
//!
//! * plain entries must sit on word boundaries on both sides;
//! * a trailing `*` makes the entry a stem (`tortur*` matches `torture`, `torturerons`);
//! * a leading `*` lets it end a glued word (`*throat*` in `gaythroats`, HateCheck's
//!   space-deletion variants).
//!
//! Violence verbs and direct-threat phrases also get generated spelling variants (one internal
//! letter dropped, two neighbours swapped, one letter doubled), which is how HateCheck's
//! `spell_char_del` / `spell_char_swap` cases and ordinary typos ("murdr", "klil", "tortuer") are
//! reached without listing misspellings by hand.

/// What a lexicon entry signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Cue {
    /// First-person or collective intent: "i will", "gonna", "je vais", "on va".
    Intent,
    /// Call on others: "someone should", "whoever", "allez", "faut le".
    Call,
    /// A violent act: "kill", "stab", "tuer", "planter".
    Violence,
    /// A threat on its own: "you're dead", "t'es mort", "death to".
    Direct,
    /// Veiled threat phrasing: "sleep well", "life insurance", "tic tac".
    Veiled,
    /// A weapon or means: "knife", "molotov", "essence".
    Weapon,
    /// Swatting: "swat", "hostage", "prise d'otages", "gunshots".
    Swat,
    /// What ought to happen to someone: "should be", "deserve to be", "devraient être". A call
    /// only when a person or group is its subject ("weeds must be killed" is gardening): the
    /// rule reads the words before it on demand (`decide::person_before`).
    Norm,
    /// Second person address: "you", "tu", "te".
    Second,
    /// Negation: "not", "never", "ne", "jamais".
    Negation,
    /// Reporting or quoting someone else's words: "commented", "a ecrit".
    Report,
    /// News and court reporting: "court", "sentenced", "condamne".
    News,
    /// Gaming and sports talk: "round", "match", "noob", "manche".
    Game,
    /// Idioms and hyperbole that use violent words: "killed me", "tu me tues".
    Idiom,
    /// Fiction and lyrics: "novel", "chapter", "chanson".
    Fiction,
    /// Counter-speech and moderation: "not okay", "stop calling", "pas de doxxing".
    Counter,
    /// Locating or exposing a person: "lives at", "son adresse", "home ip".
    DoxPos,
    /// A call to contact or visit someone: "text her", "appelez-le", "flood".
    DoxAct,
    /// A business, shop or workplace listing: "just opened", "horaires", "hiring".
    Business,
    /// A public office: "city hall", "mairie", "centre des impots".
    PublicOffice,
    /// The author's own contact details: "call me", "joignable", "my number".
    SelfDisclose,
    /// A sale ad: "for sale", "a vendre", "no timewasters".
    Sale,
    /// A property to let or for sale: "to let", "pcm", "à louer", "agence".
    Listing,
    /// A landmark or tourist spot: "statue", "viaduc", "sunrise".
    Landmark,
    /// An order, parcel or ticket number: "order", "commande", "tracking".
    Order,
    /// Tech support about one's own machines: "server", "router", "passerelle".
    Tech,
    /// Fictional or famous fictional places: "only exists in", "n'existe que".
    Fictional,
    /// Customer service or helplines: "helpline", "service client".
    Service,
    /// The post talks about a vehicle or a plate.
    Vehicle,
    /// An errand for someone: bringing back, dropping off or returning their things ("je te
    /// ramène tes clés", "I'll drop your jacket off"). "I know where you live" before it is
    /// how friends say they will come by.
    Errand,
    /// The post mentions a workplace or school, which enables the name + workplace search.
    Workplace,
}

impl Cue {
    /// Number of cues (`Workplace` is the last variant).
    pub const COUNT: usize = Cue::Workplace as usize + 1;

    /// This cue's bit in a set of cues (there are fewer than 32).
    #[inline]
    pub fn bit(self) -> u32 {
        1 << self as u32
    }

    /// Contexts that lower the doxxing score of a span: they must not come from the span itself.
    /// Not `Fictional`: a famous fictional address ("742 Evergreen Terrace") is its own context.
    pub fn is_context(self) -> bool {
        matches!(
            self,
            Cue::Business
                | Cue::PublicOffice
                | Cue::SelfDisclose
                | Cue::Sale
                | Cue::Listing
                | Cue::Landmark
                | Cue::Order
                | Cue::Tech
                | Cue::Service
                | Cue::Game
                | Cue::Fiction
        )
    }
}

/// One compiled entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub cue: Cue,
    pub rule: &'static str,
    left_free: bool,
    right_free: bool,
    /// Written in the lexicon, not one of its typo variants ("planet" is a variant of
    /// "plante"): the rules that fire on weak evidence ask for the word itself.
    exact: bool,
}

/// A hit of an entry in the folded text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub cue: Cue,
    pub rule: &'static str,
    pub start: usize,
    pub end: usize,
    pub exact: bool,
    /// The entry's index among all patterns: Aho–Corasick's order between equal matches.
    pub order: u32,
}

/// The rule of the rhetorical calls: their own negation ("why has *no one*...") negates
/// nothing.
pub(crate) const RHETORICAL: &str = "threat.incite.rhetorical";

/// Lexicon groups: (cue, rule name, fuzzy variants?, entries).
type Group = (Cue, &'static str, bool, &'static [&'static str]);

// One entry list per line group reads better than rustfmt's one-word-per-line layout.
#[rustfmt::skip]
const GROUPS: &[Group] = &[
    // ---------------------------------------------------------------- threat: intent
    (Cue::Intent, "threat.intent.en", false, &[
        "i will", "i'll", "ill", "i'm going to", "im going to", "i am going to", "i'm gonna", "im gonna", "gonna",
        "going to", "i want to", "i wanna", "wanna", "i'd love to", "we will", "we'll", "we're going to",
        "we are going to", "we're gonna", "i'm coming", "im coming", "i'm coming for", "we're coming",
        "i swear", "swear to god", "i'll have to", "i have to", "i need to", "i'm about to", "let me",
        "will", "you will", "you'll", "u will", "u'll", "ur going to", "you're going to", "i promise",
        "next time", "i'd", "i would", "i'll make sure", "we gonna", "gon", "my hands",
        // The act announced as what will happen to the reader ("ur getting stabbed", "you'll
        // end up in a ditch") or where it will start ("after that I start with your fingers").
        "you're getting", "youre getting", "ur getting", "you are getting", "u r getting", "you'll get",
        "you will get", "u'll get", "u will get", "you're gonna get", "ur gonna get", "you'll end up",
        "you will end up", "u'll end up", "i start with", "i'll start with", "we start with",
        "i'm putting", "im putting", "i'm running", "im running", "i'm starting", "im starting",
        "i'm bringing", "im bringing", "i'll be in", "i'll be at", "about to", "we're putting",
        "he's getting", "she's getting", "they're getting", "i want him", "i want her", "want him",
        "want her", "i'll find u", "ill find u", "i will find u",
        "bringing my", "bringing a",
    ]),
    (Cue::Intent, "threat.intent.fr", false, &[
        "je vais", "j'vais", "jvais", "je vai", "jvai", "je veux", "j'veux", "jveux", "on va", "nous allons",
        "je compte", "je te jure", "j'te jure", "jte jure", "je vous jure", "vous allez", "tu vas", "il va",
        "elle va", "je viens", "j'arrive", "on arrive", "on vient", "je finirai", "prochaine fois",
        "je vais devoir", "va falloir", "il va falloir", "je devrais", "j'aimerais", "on devra", "je m'en vais",
        "entre mes mains", "va y passer", "vont", "va", "va te", "je pense serieusement a", "je pense a",
        "tu vas te faire", "tu vas finir", "tu finiras", "vous finirez", "tu vas te retrouver",
        "tu te retrouveras", "je commence par", "on commence par",
        "on lui", "on le", "on la", "on te", "on vous", "je te", "je lui", "je le", "je la",
        "il va finir", "elle va finir", "va finir", "vont finir",
    ]),
    // ---------------------------------------------------------------- threat: calls on others
    (Cue::Call, "threat.incite.en", false, &[
        "someone should", "somebody should", "someone needs to", "somebody needs to", "someone go",
        "someone pls", "someone please", "anyone", "anyone who", "whoever", "who's in", "who is in",
        "go get", "let's", "lets", "everyone", "everybody", "all of you", "you guys", "boys", "hermanos",
        "pull him", "pull her", "drag him", "drag her", "go and", "go pay", "pay him a visit", "pay her a visit",
        "bring", "i'll pay", "ill pay", "bounty", "reward", "make it hurt", "give him what", "give her what",
        "teach him a lesson", "teach her a lesson", "deserves it",
        "get rid of", "once and for all", "is the only solution", "wait for him", "wait for her",
        "go shoot", "go stab", "go find", "find him", "find her", "hunt him", "hunt her", "hunt down",
        "nearby", "go visit", "send someone", "round up",
        "call the cops on", "call the police on", "call 911 on", "call 999 on", "somebody go", "go there", "go over there", "go round", "head over", "show up at", "pay them a visit",
        "first person who", "first person to", "first one who", "first one to", "to the first",
        "i'll buy", "ill buy", "grab him", "grab her", "grab the", "anybody", "if anybody",
        "make sure he", "make sure she", "make sure they",
        "if you see", "if u see", "if anyone sees", "paying", "for anyone who",
        "if you break", "if you beat", "if you jump", "if u break", "per broken bone",
        "for every broken", "earn some money", "on his head", "on her head", "price on",
        "hope someone", "hope somebody", "i hope",
        "deserves to get", "rt if",
        "need somebody to", "need someone to", "somebody meet", "someone meet", "somebody wait",
        "wait by it", "who's got", "whos got", "somebody ring", "someone ring", "spread the word",
        "the only good", "it's time people", "its time people", "time people started",
        "il est temps que", "il est temps de",
    ]),
    (Cue::Call, "threat.incite.fr", false, &[
        "quelqu'un", "qqn", "qui est chaud", "qui me suit", "qui vient", "ceux qui", "celui qui", "faut le",
        "faut la", "faut les", "faut lui", "il faut le", "il faut la", "il faut les", "allez", "allez-y",
        "allez y", "on devrait", "vous devriez", "faites-lui", "faites lui", "ramenez", "ramene", "prenez",
        "envoyez", "sortez", "mettez", "cassez", "occupez-vous", "occupez vous", "merite une balle",
        "merite de mourir", "doit mourir", "doivent mourir", "debarrassons", "debarrasser", "une fois pour toutes",
        "la seule solution", "je paie", "je paye", "recompense", "attendez-le", "attendez-la", "guettez",
        "trouvez-le", "trouvez-la", "a vous de jouer", "les gars", "vous le", "vous la", "et c'est regle",
        "on en parle plus", "vous savez ce qu'il", "chopez", "choppez",
        "appelez les flics chez", "appelez la police chez", "passez chez", "allez chez", "rendez-lui visite", "rendez lui visite", "allez-y et", "debarquez",
        "au premier qui", "a la premiere personne qui", "a celui qui", "le premier qui",
        "la premiere qui", "le premier que je", "on chope", "on choppe",
        "faites-lui passer", "faites lui passer", "qu'il finisse", "qu'elle finisse",
        "faites en sorte", "faites-en sorte",
        "si l'un de vous", "si vous le croisez", "si vous la croisez", "faites le necessaire",
        "faites le necessaire", "tous devant", "faut aller", "je le paie", "je la paie",
        "merite qu'on", "qu'on le", "qu'on la", "que tous ceux", "se retrouvent devant",
        "faudrait", "qui s'en charge", "on signale", "le prochain qui", "la prochaine qui", "reperez",
        "foncez-lui", "sautez-lui",
        // Bounties: money for whoever hurts someone.
        "pour qui", "a qui casse", "a qui defonce", "a qui frappe", "si tu casses", "si tu le",
        "si tu la", "euros si", "par os casse", "prime pour", "prime :",
        "faut tous les", "il faut tous les", "le seul bon", "la seule bonne", "les seuls bons",
    ]),
    // ---------------------------------------------------------------- threat: norms
    // Harm stated as what ought to happen to someone or to a group ("[they] should all be
    // shot", "les [X] devraient être pendus"): a call when a person is its subject.
    (Cue::Norm, "threat.norm.en", false, &[
        "should be", "should all be", "should all", "must all", "must be", "ought to be",
        "need to be", "needs to be", "deserve to be", "deserves to be", "should just", "all deserve",
        "should get", "must all be", "need to all be", "should have been", "should've been",
        "deserve to die", "deserves to die", "deserve death", "deserves death", "should die",
        "must die", "needs to die", "should be killed", "should be shot", "should be hanged",
        "should be dragged", "deserves a", "deserve a", "deserve every", "deserves every",
        "deserves to have", "deserve to have", "deserves to hang", "deserve to hang", "legal to",
        "be legal", "legalise", "legalize", "open season on", "fair game",
        "in everyone's interest to", "for the good of everyone", "for everyone's sake",
    ]),
    (Cue::Norm, "threat.norm.fr", false, &[
        "devraient etre", "devraient tous etre", "devraient toutes etre", "devrait etre",
        "doivent etre", "doivent tous etre", "doivent toutes etre", "doit etre", "meritent de",
        "meritent d'etre", "merite d'etre", "devraient crever", "devraient mourir", "devraient tous",
        "devraient toutes", "faudrait les", "faudrait tous les", "meriteraient", "merite de",
        "merite une", "meritent une", "meritent chaque", "merite chaque", "legal de", "legal d'",
        "legalisez", "legaliser", "dans l'interet de tous de", "dans l'interet de tous d'",
        "pour le bien de tous", "il serait temps de",
    ]),
    // Rhetorical calls ("why hasn't anyone shot him yet?", "pourquoi personne n'a encore...",
    // "can't wait for the day..."): calls on others, whose own negation negates nothing.
    (Cue::Call, RHETORICAL, false, &[
        "why hasn't anyone", "why hasnt anyone", "why has no one", "why has nobody",
        "why hasn't someone", "why hasnt someone", "why hasn't somebody", "is there nobody",
        "is there no one", "shouldn't someone", "shouldnt someone", "what are we waiting for",
        "can't wait for the day", "cant wait for the day", "would be nice if someone",
        "would be nice if", "wouldn't it be nice if", "wouldnt it be nice if", "imagine if someone",
        "if only someone", "pourquoi personne n'a", "pourquoi personne n'", "pourquoi personne ne",
        "qui sera le heros", "combien de temps avant que", "on attend quoi", "si seulement quelqu'un",
        "vivement que", "vivement le jour", "ce serait bien qu", "ca serait bien qu",
        "serait bien que quelqu'un", "personne pour",
    ]),
    // ---------------------------------------------------------------- threat: violent acts
    (Cue::Violence, "threat.violence.en", true, &[
        "kill", "murder", "stab", "execute", "execution", "slaughter", "torture", "massacre", "strangle",
        "killed", "kills", "killing", "murdered", "murders", "stabbed", "torture", "tortured", "raped",
        "strangled", "executed", "butchered", "slaughtered", "burned", "run her off the road",
        "run him off the road", "run you off the road", "cut ur tongue",
        "cut your tongue", "tongue out", "real pain", "get rid of", "firebomb", "molotov", "set fire to",
        "burn it", "burn down", "assassinate", "assassinat*", "your skull", "ur skull", "make it hurt",
        "hurt", "matar",
        "kill*", "murder*", "stabs", "stabbing", "stabbings", "shoot", "shooting", "shot", "hurt", "hurting", "beat", "beating",
        "burn", "burns", "burning", "burnt", "tortur*", "rape", "rapes", "raping", "rapist", "rapists",
        "strangle*", "hang", "hanged", "slit", "slits", "slitting", "cut his", "cut her", "cut your",
        "cut their", "*throat*", "smash*", "break his", "break her", "break your", "break their", "bomb*",
        "blow up", "executes", "executing", "executions", "executioner", "butcher*", "slaughter*", "massacre*", "lynch*", "choke*", "drown*", "bury*",
        "end you", "end him", "end her", "end his life", "end her life", "end your life", "end every", "finish you",
        "finish him", "finish her", "put a bullet", "bullet", "bullets", "die", "dies", "death", "dead", "suffer",
        "attack*", "eradicate*", "exterminat*", "wipe out", "snap your", "snap his", "snap her", "snap that", "curb stomp", "beat up", "run him over", "run her over", "set fire", "torch", "gut him",
        "gut her", "skin him", "shank*", "cap him", "cap her", "pop him", "smoke him", "take him out",
        "take her out", "take you out", "rope", "gasoline", "petrol", "teeth in",
        "put an end", "harm", "bleed", "blood", "gun him down", "gun her down", "acid", "assault*", "punch", "punched", "punches", "punching",
        "hit him", "hit her", "break in", "won't see it coming", "ambush",
        "gassed", "gas them", "poison*", "lives to see", "beaten to death", "beaten up", "stoned to death", "hunted down",
        "wiped out", "castrated", "put down like", "gunned down", "torn apart", "beaten half to death",
    ]),
    (Cue::Violence, "threat.violence.fr", true, &[
        "le choper", "la choper", "les choper", "a la sortie du", "a la sortie de",
        "tuer*", "torturerons", "massacrerai", "assassiner", "assassine", "etrangler", "egorger",
        "faites-lui mal", "faites lui mal", "lui faire mal", "faire mal", "coupe la langue",
        "couper la langue", "foutre le feu", "mettre le feu", "part en fumee", "vraie douleur", "eradiqu*",
        "debarrass*", "en finir", "te fumer", "le fumer", "la fumer", "ton crane", "dans le fosse",
        "allez la chercher", "allez le chercher", "bombe artisanale",
        "tuer", "tue", "tues", "tuez", "tuera*", "tuerai*", "tuons", "buter", "bute", "butez", "buterai*",
        "planter", "plante", "plantez-le", "plantez-la", "plantez le", "plantez la", "planterai*", "poignard*", "egorg*", "trancher*", "tranchez",
        "bruler", "brule", "brulez", "brulera*", "cramer", "cramez", "crame", "torturer", "tortur*", "violer",
        "viole", "violera*", "massacr*", "frapper", "frappe*", "tabass*", "defonc*", "casser", "cassez", "casses",
        "casserai*", "cassera*",
        "exploser", "explose*", "abattre", "abattez", "abats", "pendre", "pendez", "etrangl*", "crever",
        "creve", "mort", "morte", "morts", "mourir", "mourra*", "balle", "lynch*", "extermin*", "executer", "executez", "executee",
        "executees", "executera*", "executerai*", "executons",
        "fusill*", "tirer sur", "tirer dessus", "tire sur", "enterrer", "enterre", "faire du mal",
        "faire souffrir", "souffrir", "faire la peau", "en finisse avec", "en finissent avec",
        "en finir avec", "met le feu", "mets le feu", "mettez le feu",
        "foutez le feu", "fout le feu", "viserai", "je vais viser", "la gorge", "gorge", "gorges*", "le cou", "briser", "saigner",
        "bousiller", "eclater", "eclatez", "refroidir", "descendre", "petez", "peter la", "ton crane",
        "sa tete", "ta tete", "les jambes", "corde", "essence", "molotov", "cocktail", "bombe", "fin a sa vie",
        "fin a ta vie", "mettre fin", "agresser", "attaquer", "detruire", "les dents", "dans le fosse",
        "le sortir", "le sortez", "vous le sortez", "cogner", "caillasser", "incendier", "attendre a la sortie",
        "tuee", "tuees", "abattu*", "pendus", "pendue", "pendues", "brules", "brulee", "brulees",
        "gazer", "gazee", "gazees", "au gaz", "lapider*", "lapide", "lapidee*", "lapides", "lapidez", "lapidation", "decapit*", "crevent", "crevez",
        "les noyer", "tous les noyer", "pendront", "empoisonn*", "fracass*", "voie noel", "pendre haut", "six pieds sous terre",
    ]),
    // ---------------------------------------------------------------- threat: injuries
    // Harm told by the body part or the outcome ("breaks his jaw", "in a wheelchair", "qu'il
    // ne se relève pas"): violent acts like the verbs above, and never sports or gaming talk.
    (Cue::Violence, "threat.injury.en", true, &[
        "put you in the hospital", "put u in the hospital", "put you in a coma", "put u in a coma",
        "in the hospital", "in a coma",
        "every bone", "his legs", "her legs", "your legs", "ur legs", "'s legs", "kneecap*", "his jaw",
        "her jaw", "your jaw", "ur jaw", "his teeth", "her teeth", "your teeth", "ur teeth", "teeth out",
        "his fingers", "her fingers", "your fingers", "ur fingers", "breaking his", "breaking her",
        "breaking your", "breaking ur", "breaks his", "breaks her", "breaks your", "break every",
        "string him up", "string her up", "string them up", "in the ground", "six feet under",
        "body bag", "in the er", "hospital bed", "a kicking", "proper kicking", "kick his head",
        "kick her head", "kick your head", "stomp*", "fished out", "in a ditch", "in da ground",
        "something burning",
        // The outcome with its negation, so that the "not" of "make sure he doesn't get back
        // up" is read as part of the act, not as negating it.
        "doesn't get back up", "doesnt get back up", "don't get back up", "never gets back up",
        "doesn't get home", "doesnt get home", "don't get home", "never gets home",
        "doesn't make it home", "doesnt make it home", "won't make it home", "wont make it home",
        "in hospital", "wheelchair", "through a straw", "stitches", "stretcher", "ambulance",
        "in the river", "in one piece", "disfigur*", "his face", "her face", "your face", "ur face",
        "windscreen", "windshield", "off the road", "brake lines", "his brakes", "her brakes",
        "under his car", "under her car", "drain cleaner", "goes up", "gallon of gas", "gas can",
        "can of gas", "jerry can", "with you inside", "jump him", "jump her", "jump them", "merked",
        "catch these hands", "catch hands", "bone i break", "bones i break", "your knees", "ur knees",
        "his knees", "her knees", "'s jaw", "'s face", "'s knees", "'s teeth", "'s skull",
        "in the canal", "in the lake", "in the harbour",
        "strung up", "knocked out", "kicked in", "teeth kicked", "cut him", "cut her", "cut you",
        "cut u", "brick through", "through her window", "through his window", "through your window",
        "bedroom window", "with her in it", "with him in it", "with you in it", "with them in it",
        "burned to the ground", "burnt to the ground", "in ashes", "jump that", "jump the ref",
        "'s arm", "'s arms", "'s legs", "limping", "in a&e", "a&e", "finish the job", "slash*",
        "find the body", "in a bag", "make him disappear", "make her disappear",
    ]),
    (Cue::Violence, "threat.injury.fr", true, &[
        "t'envoie a l'hopital", "envoyer a l'hopital", "a l'hopital", "dans le coma",
        "te mets dans le coma",
        "tes genoux", "ses genoux", "les genoux", "tes dents", "ses dents", "tes doigts", "ses doigts",
        "casser la gueule", "peter la gueule", "defoncer la gueule", "eclater la gueule",
        "casser la figure", "petite cuillere", "aux urgences", "se releve pas", "les jambes",
        "ses jambes", "tes jambes", "les rotules", "ses rotules", "tes rotules", "rotules",
        "les bras", "ses bras", "tes bras", "la machoire", "sa machoire", "ta machoire",
        "se releve plus", "se relevera pas", "se relevera plus", "ne se releve", "ne se relevera",
        "bouge plus", "bougera plus", "ne bouge plus", "ne bougera plus", "dans le coffre",
        "regle son compte", "regler son compte", "regler son cas",
        "le pend", "la pend", "les pend", "pendu", "le finir", "la finir", "te finir", "sous terre",
        "entre quatre planches", "les pieds devant", "a coups de", "raclee", "passer a tabac",
        "truc qui brule", "fait la peau", "ferai la peau", "ferons la peau", "feront la peau", "defigur*", "fonce dedans",
        "te fonce", "hosto", "le samu", "civiere", "fauteuil roulant", "pas entier",
        "en un seul morceau", "dans un fosse", "le feu", "pris feu", "prendre feu", "avec toi dedans",
        "passer l'envie", "aller la chercher", "aller le chercher", "va le chercher", "va la chercher",
        "tes freins", "ses freins", "freins vont lacher", "sous sa voiture", "bidon d'essence",
        "dans la riviere", "ta gueule en", "ta face", "sa face", "son visage", "ton visage",
        "dans le canal", "dans le lac",
        "refaire le portrait", "refasse le portrait", "refais le portrait", "ecrase la tete",
        "ecraser la tete", "morfle*", "en cendres", "plus de visage", "physiquement",
        "refait le portrait", "refont le portrait", "pas debout", "brancard", "foncez-lui dedans",
        "lui foncer dedans", "sautez dessus", "sauter dessus", "faire disparaitre",
    ]),
    // ---------------------------------------------------------------- threat: direct phrases
    (Cue::Direct, "threat.direct.en", true, &[
        "make it hurt", "only solution for", "is the only solution", "t'envoie a l'hopital",
        "te mets dans le coma", "put you in a coma", "put u in a coma", "put you in the hospital",
        "put u in the hospital", "send you to the hospital", "a firebomb", "needs a bullet", "need a bullet", "should hang", "should be hanged", "should be hung",
        "tie the knot", "te voy a matar", "te mato", "vas a morir", "estas muerto", "u die", "2nite u die",
        "you'll be dead", "you will be dead", "won't live to see", "wont live to see", "you die before",
        "i'm coming for", "im coming for", "coming 4 u", "i'm coming 4", "see u soon", "you'll need one",
        "u'll need one", "your street is next", "ur street is next", "one molotov", "would solve everything",
        "won't just watch", "wont just watch", "your name on it", "ur name on it",
        "you're dead", "youre dead", "you are dead", "ur dead", "u r dead", "u dead", "you're a dead man",
        "dead man", "dead woman", "you will die", "you'll die", "u will die", "you're going to die",
        "ur gonna die", "you're gonna die", "death to", "i will kill", "i'll kill", "i'm going to kill",
        "i know where you live", "i know where u live", "i kno where u live", "we know where you live",
        "i know where you", "we know where you", "i know where your", "i know where ur", "tonight you die",
        "you die", "your last day", "your days are numbered", "watch your back", "you won't see it coming",
        "won't make it to", "wont make it to", "you won't be walking", "won't be walking", "dead meat",
        "you're next", "ur next", "coming for you", "coming for u", "i'll find you", "we'll find you",
        "i will find you", "i'll end you", "see you soon", "you've been warned", "last warning",
        "i'm coming tonight", "im coming tonight", "i'm coming tomorrow", "be waiting", "we'll be waiting",
        "i'll be waiting", "won't wake up", "never wake up", "go get her", "go get him", "deserves a bullet",
        "one bullet", "bring rope", "bring a rope", "pipe bomb", "in the parking lot", "won't see christmas",
        "make it to christmas", "make you suffer", "make him suffer", "make her suffer", "make them suffer",
        "die a horrible", "at my hands", "until you are gone",
        "won't walk out", "wont walk out", "u won't walk out", "his days are numbered",
        "her days are numbered", "never walk again", "won't walk again", "wont walk again",
        "won't get back up", "wont get back up", "coming for his", "coming for her",
        "coming for your", "coming for ur", "coming for their",
        "not walking out", "lights out for",
        "if i can't have you", "if i cant have you", "if i cant have u", "if i can't have u",
        "hear you scream", "hear u scream", "coming for him", "coming for them",
    ]),
    (Cue::Direct, "threat.direct.fr", true, &[
        "tu seras mort", "tu seras morte", "t'es dead", "tes dead", "je tue", "j'tue", "je te mets",
        "merite la corde", "serrer le noeud", "ensuite ton crane", "ton nom dessus", "un molotov",
        "tu rentreras pas", "tu me verras pas", "me verras pas arriver", "j'arrive,", "j'arrive ce soir",
        "j'viens ce soir",
        "t'es mort", "t'es morte", "tes mort", "tes morte", "t mort", "tu es mort", "tu es morte",
        "tu vas mourir", "tu vas crever", "vous allez mourir", "t'es un homme mort", "homme mort",
        "femme morte", "mort a", "mort aux", "je vais te tuer", "je vais te buter", "je te bute",
        "je te tue", "je vais te planter", "je te plante", "je te tuerai", "je sais ou tu habites",
        "je sais ou t'habites", "je sais ou tu vis", "je sais ou tu dors", "on sait ou tu habites",
        "on sait ou tu", "je sais ou tu", "je sais ou vit", "je sais ou ta", "tes jours sont comptes",
        "fais gaffe a toi", "fais tes adieux", "tu le verras pas venir", "tu verras pas venir",
        "tu verras jamais", "verra pas noel", "verras pas noel", "passera pas noel", "repartiras pas",
        "sur tes deux pieds", "on vient te", "on va venir", "je viens te", "je viens ce soir",
        "j'arrive ce soir", "a tres vite", "t'en auras besoin", "merite une balle", "une balle dans",
        "lui trancher", "te trancher", "te briser",
        "te faire du mal", "te faire souffrir", "a l'aube", "ce soir tu", "tu vas payer", "vous allez payer",
        "ses jours sont comptes", "tu ressortiras pas", "ressortiras pas vivant", "remarchera plus",
        "remarchera jamais", "ne remarchera", "remarcheras plus", "remarcheras jamais",
        "ramasseras tes dents", "ramasser tes dents", "ramasser ses dents", "vient pour sa famille",
        "vient pour ta famille", "viens pour ta famille", "vient pour toi", "viens pour toi",
        "sortira pas entier", "sortira plus jamais", "sortiras pas entier", "sortiras plus jamais",
        "pas s'en remettre", "s'en remettra pas", "t'en remettras pas", "s'en remettra jamais",
    ]),
    // ---------------------------------------------------------------- threat: veiled
    (Cue::Veiled, "threat.veiled.en", false, &[
        "make him regret", "make her regret", "make you regret", "you'll regret", "you will regret",
        "sleep with one eye open", "lesson she won't forget", "lesson he won't forget", "lesson you won't forget",
        "lesson they won't forget", "you better watch", "you'd better watch", "better watch out",
        "people like you end up", "people like you tend to", "people like you get",
        "people like u end up", "people like u get", "tend to disappear", "which school your kids", "your kids go",
        "your wife will", "one match and", "whole house goes up", "goes up in flames", "be careful",
        "see you soon", "think about that",
        "sleep well", "sleep tight", "life insurance", "last weekend", "enjoy your last", "enjoy ur last",
        "tick tock", "tik tok tik", "how long you've got", "how long you have", "shame if", "shame if something",
        "be a shame", "accidents happen", "would be a shame", "your family will need",
        "i've been following you", "ive been following you", "been watching you",
        "i'm watching you", "im watching you", "when i'm done watching", "one of these nights",
        "one of these days", "your kids go to school", "where your kids", "where your daughter",
        "walks home alone", "your brakes", "brakes failed", "something happened to", "something happens to",
        "we'll be waiting", "won't see it coming", "wont see it coming", "can't protect", "nowhere to hide",
        "you can't hide", "look over your shoulder", "keep looking over", "counting the days", "3 days left", "you have 3 days", "u have 3 days", "got 3 days",
        "days left", "run while you can", "say goodbye", "say your goodbyes", "before it's too late",
        "you've got until", "you have until", "i'll be there", "waiting for you", "waiting outside",
        "i know your schedule", "i know what car", "it's loaded", "is loaded", "loaded and waiting",
        "would hate for", "hate for something", "real pity", "pity if", "see what happens",
        "what happens to people", "people who talk", "talk too much", "lock the back door",
        "lock your doors", "which bus", "what bus", "think real hard", "think hard before",
        "think twice before", "drop the lawsuit", "drop the charges",
        "won't be an accident", "wont be an accident", "not be an accident", "so fragile",
        "check under", "under your car", "under ur car", "you know what we do", "enjoy it while",
        "won't enjoy", "wont enjoy", "little accident", "if you make it home", "if u make it home",
    ]),
    (Cue::Veiled, "threat.veiled.fr", false, &[
        "tu vas le regretter", "tu vas regretter", "vous allez le regretter", "il va le regretter",
        "elle va le regretter", "t'as interet a", "tu as interet a", "tu ferais mieux de", "une lecon qu'il",
        "une lecon qu'elle", "dors d'un oeil", "comprendre sa douleur", "sa douleur",
        "gens comme toi finissent", "les gens comme toi on", "gens comme toi ca finit",
        "finissent par disparaitre", "des accidents", "fais attention", "les freins",
        "une allumette", "quelle ecole vont tes", "tes gosses", "je serai la", "ta femme va",
        "je t'ai eu", "j't'ai eu", "refléchis avant", "reflechis avant",
        "dors bien", "dors tranquille", "assurance vie", "assurance-vie", "dernier week-end",
        "dernier weekend", "profite bien de ton dernier", "tic tac", "ce serait dommage", "ca serait dommage",
        "serait dommage qu'il", "j'ai pense a toi", "jai pense a toi", "je te suis", "je t'observe",
        "je te surveille", "je t'ai vue", "je t'ai vu", "me contenterai pas de regarder", "un de ces soirs",
        "un de ces jours", "tes enfants", "ta fille", "ton fils", "tes freins", "il t'attend", "t'attend",
        "il est charge", "nettoye et charge", "tu peux pas te cacher", "nulle part ou te cacher", "fais tes adieux",
        "compte les jours", "jours qu'il te reste", "il te reste", "avant qu'il soit trop tard",
        "dort", "c'est la que dort", "pendant qu'elle dort", "pendant qu'il dort",
        "on t'attendra", "on t'attend", "ta famille va en avoir besoin",
        "ce qui lui arrive", "ce qui va lui arriver", "ce qui va t'arriver", "tu verras ce qui",
        "qui parlent trop", "parlent trop", "fermer la porte", "quel bus", "rentre seul",
        "avant de temoigner", "retire ta plainte", "retire la plainte", "fais bien attention",
        "faites bien attention",
        "qu'il fasse attention", "qu'elle fasse attention", "pas un accident", "ce qu'on fait aux",
        "qu'il profite", "qu'elle profite", "profite bien de ses", "profite bien de tes",
        "sous ta voiture",
        "arrive quelque chose", "petit accident",
    ]),
    (Cue::Weapon, "threat.weapon", false, &[
        "knife", "knives", "gun", "guns", "a bat", "bring a bat", "hammer", "crowbar", "marteau",
        "pied de biche", "pied-de-biche", "la batte", "a la batte", "machette", "machete", "avec des battes", "couteeau", "rifle", "pistol", "shotgun", "ammo", "bats", "baseball bat",
        "baseball bats", "crowbar", "machete", "axe", "rope", "gasoline", "petrol", "molotov", "pipe bomb",
        "bomb", "grenade", "acid", "couteau", "couteaux", "fusil", "flingue", "arme", "pistolet", "batte",
        "battes", "barre de fer", "machette", "hache", "corde", "essence", "bidon", "bombe", "grenade",
        "cocktail molotov", "acide", "calibre", "kalash", "sabre", "glock", "machette", "aiguise", "sharpened", "firebomb", "tyre iron", "tire iron", "la lame",
    ]),
    (Cue::Swat, "threat.swatting", false, &[
        "swat*", "hostage*", "otage*", "prise d'otage*", "gunshots", "gunshot", "shots fired",
        "coups de feu", "coup de feu", "bomb threat", "alerte a la bombe", "call 911", "call the cops",
        "call the police", "call police", "appelez le 17", "appelez les flics", "appelez la police",
        "il est arme", "elle est arme*", "he's armed", "she's armed", "has a gun", "a une arme",
        "woman screaming", "femme crier", "une femme crier", "heard screaming", "fake report",
        "faux signalement", "send the swat", "envoyez le raid", "le raid", "le gign",
        "got a gun", "kick the door", "kick in the door", "kick his door", "kick her door",
        "defoncer la porte", "defoncent la porte",
        "une bombe au", "une bombe chez", "a bomb at", "a bomb in", "explosifs", "explosives",
        "debarquent armes", "flics debarquent", "armed police", "armed response",
        "active shooter", "fusillade", "come in hot", "rentrer armes", "flics rentrer",
        "triple zero", "ring 000", "tactical team", "sequestre", "faux appel", "rentrent armes",
    ]),
    // Short words ("u", "te", "ne") are not in the automaton: as overlapping patterns they would
    // fire inside most words and cost more than they tell; `decide` looks them up per token.
    (Cue::Second, "addr.second_person", false, &[
        "you", "your", "you're", "yours", "yourself", "toi", "ton", "tes", "t'es", "vous", "votre", "vos",
    ]),
    // ---------------------------------------------------------------- cancelling contexts
    (Cue::Negation, "context.negation", false, &[
        "not", "never", "no one", "nobody", "noone", "don't", "dont", "doesn't", "doesnt", "didn't",
        "shouldn't", "should not", "wouldn't", "would never", "will never", "won't ever", "no way",
        "cannot", "can't", "isn't", "aren't", "nothing", "pas", "jamais",
        "personne", "aucun", "aucune", "refuse", "nevr", "neevr", "nver", "neva", "no human", "no person", "no child", "no woman",
        "no man", "no living", "no one should", "nul ne",
    ]),
    (Cue::Report, "context.report", false, &[
        "commented", "wrote:", "wrote that", "he wrote", "she wrote", "they wrote", "someone wrote",
        "wrote me", "wrote to me", "said", "sent me", "sent messages", "messages saying",
        "threatened", "threats like", "threat like", "threatening", "told me", "dm'd me", "dmed me",
        "replied", "texted me", "left a comment", "reported it", "reported", "screenshot of", "quote",
        "quoting", "a ecrit", "ecrit", "a commente", "commente", "en commentaire", "m'a envoye", "m'a dit",
        "m'a ecrit", "menace", "menaces", "menacee", "menace de", "menacer", "menacer de",
        "threaten to", "keep saying", "keeps saying", "continuent a dire", "continue a dire",
        "insister sur le fait que", "insist that", "signale", "signalee", "j'ai recu",
        "i got a message", "i received", "got a dm", "a dit", "disant", "des propos", "dire des choses",
        "like \"", "comme \"", "tweeted", "posted that",
        "avoir dit que", "dit que vous", "dit qu'il", "dit qu'elle",
    ]),
    (Cue::News, "context.news", false, &[
        // Not "court" alone: a tennis or basketball court ("drag you off the court").
        "in court", "court heard", "court hears", "crown court", "magistrates", "told the court",
        "court case", "court date", "court ruled", "district court", "high court", "supreme court",
        "court documents", "court records", "court of", "the court was told", "sentenced", "sentencing", "convicted", "trial", "defendant", "prosecutor*",
        "police said", "police say", "according to", "charged with", "arrested", "indictment", "jury", "suspect", "the accused", "pleaded", "jailed", "man, 3*", "woman, 2*", "tribunal", "condamne*", "accuse", "selon", "le prevenu", "la prevenue", "enquete", "acte d'accusation", "mis en examen", "juges", "le juge a",
        "garde a vue", "interpelle*", "sera juge", "sera jugee", "l'auteur", "a mobilise", "a ete condamne", "ans de prison", "years in prison", "reported that",
        "breaking news", "breaking:", "officials",
    ]),
    (Cue::Game, "context.gaming_sports", false, &[
        "[sport]", "[game]", "git gud", "in a row", "your base", "upgraded", "walls", "respawn", "till i die", "allez les bleus", "allez les verts", "allez l'om", "allez l'ol", "allez paris", "come on you", "supporters", "fans",
        "kick-off", "coup d'envoi", "ranked", "rankked", "dust2", "1v1 me",
        "next round", "this round", "the match", "match de", "game", "games", "gg", "wp", "noob", "n00b", "1v1", "lobby", "ranked",
        "respawn", "headshot", "fortnite", "valorant", "call of duty", "cod", "nuketown", "minecraft", "map",
        "next map", "raid boss", "pvp", "fps", "ez", "team", "finals", "the final",
        "league", "season", "defence", "defense", "score", "the tigers", "opponents", "playoff*", "scrim",
        "tournament", "partie", "manche", "prochain round", "prochaine partie", "apprends a jouer",
        "d'affilee", "equipe", "championnat", "saison", "adversaire", "adversaires", "ligue", "console",
        "fifa", "rocket league", "clutch", "kill cam", "killcam", "spawn", "camper", "on stream", "ff",
        "next match", "au prochain", "prochain match",
        "back four", "derby", "striker", "midfield", "goalkeeper", "keeper", "kick-off", "clean sheet",
        "buteur", "gardien de but", "milieu de terrain", "ce boss", "le boss", "boss final",
        "final boss", "boss fight", "au rugby", "at rugby", "au hand", "au volley", "au hockey",
        "at hockey", "at footy", "at football",
        "at chess", "at cards", "at catan", "at monopoly", "at scrabble", "at uno", "at poker",
        "at darts", "at pool", "at bowling", "at ping pong", "at table tennis", "at tennis",
        "at badminton", "at squash", "at golf", "at trivia", "pub trivia", "pub quiz", "at mario kart",
        "mario kart", "rainbow road", "smash bros", "at smash", "at fifa", "at bridge", "at pictionary",
        "board game", "aux echecs", "aux cartes", "au scrabble", "au monopoly", "au uno", "au poker",
        "aux flechettes", "au billard", "au bowling", "au ping-pong", "au ping pong", "au tennis",
        "au badminton", "au squash", "au golf", "au quiz", "au babyfoot", "au baby-foot", "au baby",
        "a smash", "au basket", "au foot", "au five", "au tarot", "a la belote", "a la petanque",
        "au molkky", "au blind test", "jeu de societe", "au mario kart",
    ]),
    (Cue::Idiom, "context.idiom", false, &[
        "shoot a documentary", "shoot a film", "shoot a movie", "shoot a message",
        "shoots me a", "shoot you a", "shoot u a", "shoot an email", "shoot a text",
        "pend la cremaillere", "pendre la cremaillere", "pendaison de cremaillere",
        "me tuer", "tue le temps", "could murder a", "murder a pint", "murder a burger",
        "killed me", "kills me", "killing me", "kill me", "killin me", "tu me tue*", "me tue*",
        "m'a tue", "m'a tuer", "ca me tue", "m'a acheve", "m'acheve", "knock 'em dead", "knock em dead",
        "break a leg", "dying of laughter", "i'm dead", "im dead", "i'm dying", "im dying", "je suis mort",
        "je suis morte", "mort de rire", "morte de rire", "to die for", "killed it", "killing it",
        "kill it", "murder a", "could murder", "dead tired", "mort de fatigue", "slay", "slayed",
        "tuer le game", "tue le game", "je meurs", "je suis mort de", "crever de", "creve de",
        "butchered", "se faire tuer", "fait tuer", "killer", "tueur", "deadline", "dead line", "dead battery",
        "kill time", "tuer le temps", "shoot me a", "shoot me an", "mort de honte", "died laughing",
        "dying to", "meurs d'envie", "da bomb", "the bomb", "blew up my", "blow up my",
        "explose de rire", "on fire", "attack on titan", "heart attack", "crise cardiaque",
        "decoupe", "se faire decouper", "destroy them", "destroyed them", "detruire",
        "death of me", "be the death of", "la mort de moi",
        // Machines, batteries, cakes, photos, budgets and walls: the violent word is a figure
        // of speech of everyday life.
        "kill the process", "kill a process", "kill the app", "kill all the", "kill the background",
        "kill the atmosphere", "kill the mood", "kill the vibe", "killing time", "kill some time",
        "dead phone", "phone died", "battery died", "battery is dead", "dead in the eye",
        "dead serious", "dead end", "dead set on", "dead last", "absolute bomb", "was a bomb",
        "bombed the exam", "bombed my exam", "bomb the exam", "shoot a video", "shooting a video",
        "shoot the video", "shoot a photo", "photo shoot", "shoot the sunrise", "shoot the sunset",
        "shot the lights out", "shoots the lights out", "shooting star", "shooting stars",
        "shoot a short", "shooting a short", "shooting a quick", "shoot a quick",
        "die on this hill", "dying for a", "killer app", "murder mystery", "crime against humanity",
        "stabbing pain", "shot in the dark", "long shot", "give it a shot", "big shot",
        "panic attack", "blow off steam", "would kill for", "kill for a",
        "tuer les applis", "tue les applis", "tue toutes les applis", "tuer toutes les applis",
        "tuer l'appli", "tuer le processus", "tue le processus", "tuer l'ambiance", "tue l'ambiance",
        "batterie morte", "batterie est morte", "telephone est mort", "ecran mort", "une vraie bombe",
        "c'est une bombe", "explose mon budget", "exploser mon budget", "exploser le budget",
        "explose le budget", "explose les compteurs", "exploser les compteurs", "exploser le score",
        "mort de chaud", "meurs de chaud", "mort de froid", "meurs de froid", "je meurs de",
        "tuer dans l'oeuf", "abattre la cloison", "abattre un mur", "abattre le mur",
        "casser la tirelire", "tirer le portrait",
        "a shot at", "take a stab at", "have a stab at", "shoot you the", "shoot u the", "shoot us a",
        "shoot you an", "beat the traffic", "beat the rush", "beat the queue", "beat the crowds",
        "beat you to", "beat u to", "beat out the", "beat the eggs", "beat the egg", "die laughing",
        "dying laughing", "drop dead gorgeous", "is dead apparently", "phone is dead", "est mort d'apres",
        "shooting practice", "frapper a la porte", "frappe a la porte", "frappera fort",
        "frappe fort a", "l'orage va eclater", "dix balles", "vingt balles", "cent balles",
        "les cages", "tes frappes", "counter-attack", "contre-attaque", "left wing", "right wing",
        "blow up the balloons", "blow up balloons", "gonfler les ballons",
        // Regret of a purchase or a missed show, and finding someone at a meeting place: the
        // veiled and direct phrases ("you'll regret", "I'll find you") in their everyday use.
        "regret buying", "regret ordering", "regret signing", "regret missing", "regret not",
        "regret having", "regretter d'avoir",
        // Dead machines, dead leaves and still lifes; a secret weapon, a bomb of a line-up, a
        // heist, a tug of war, passing the buck.
        // Victims told of, not acts called for: "while women are getting murdered".
        "getting murdered", "being murdered", "getting killed", "being killed", "getting shot",
        "being shot", "getting attacked", "being attacked", "getting beaten", "being beaten",
        "tel est mort", "ordi est mort", "pc est mort", "reseau est mort", "wifi est mort",
        "moteur est mort", "feuille morte", "feuilles mortes", "nature morte", "langue morte",
        "point mort", "temps mort", "angle mort", "mer morte", "peaux mortes", "arme secrete",
        "arme fatale", "de la bombe", "le casse de", "casse du siecle", "tir a la corde",
        "renvoient la balle", "renvoyer la balle", "renvoie la balle", "balle de match",
        "secret weapon", "lethal weapon", "tug of war",
        "regret skipping", "regret booking", "regret eating", "regret that purchase",
        "regretter cet achat", "regretter ce forfait", "regretter de pas", "regretter de ne pas",
        "find you at the gate", "find you at arrivals", "find you at the exit", "find you in the crowd",
        "find you at the entrance", "find you at the station", "find you at the airport",
        "find you at the finish", "find you after the", "find you near the ticket",
        "find you by the", "find you at the bar", "find you at the front", "find you in the lobby",
        "find you at the food", "find you at the merch", "trouve a la sortie du concert",
        "te trouve a l'entree", "te retrouve a la gare", "te retrouve devant",
    ]),
    (Cue::Fiction, "context.fiction", false, &[
        // Not "play", "plot", "trailer", "campaign", "nouvelle", "roman", "pièce" alone: a
        // cemetery plot, a trailer home, "sa nouvelle adresse", a Roman name.
        "novel", "chapter", "book", "d&d campaign", "my campaign", "our campaign", "d&d", "dnd",
        "dungeon master", "assassin", "story", "film", "movie", "the play", "a play", "school play",
        "scene", "character", "villain", "episode", "series", "lyrics", "song", "verse", "rap",
        "spoiler", "macbeth", "hamlet", "fanfic", "fiction", "the plot", "plot twist",
        "movie trailer", "the trailer", "film trailer", "thriller", "drafting", "manuscript",
        "screenplay", "line before", "mon roman", "le roman", "ce roman", "un roman", "du roman",
        "chapitre", "livre", "piece de theatre", "personnage", "serie", "paroles", "chanson",
        "couplet", "replique", "scenario", "tome", "manga", "bd", "polar", "recueil de nouvelles",
        "j'ecris",
        "i'm writing", "im writing", "western", "westerns",
    ]),
    (Cue::Counter, "context.counter_speech", false, &[
        "should be in jail", "be in prison", "in jail for", "for wishing", "en prison pour",
        "pour avoir souhaite", "devrait etre en prison",
        "not okay", "not ok", "not acceptable", "unacceptable", "stop calling", "stop saying",
        "deserve to be in prison", "bigoted", "bigot", "shows how", "shows that", "disgusting thing to say",
        "hateful", "calls for violence", "not allowed", "against the rules", "report it", "is a crime",
        "montre a quel point", "inacceptable", "pas acceptable", "pas normal", "arretez de", "arrete de",
        "interdit", "interdits", "appels a la violence", "pas de doxxing", "sectaire", "haineux", "honteux",
        "decourageant", "reclamer la mort", "condamne", "i condemn", "no place", "n'a pas sa place",
        "heureusement", "should be ashamed", "devriez avoir honte", "pas ok",
        "is disgusting", "is vile", "is sick", "is abhorrent", "was disgusting", "is beyond the pale",
        "c'est degueulasse", "c'est ignoble", "c'est abject", "est ignoble", "est abject",
        "is lying to you", "is lying", "encourage people to", "encourages people to",
        "encouraged people to", "cheering on", "complicit", "should be taken down",
        "should be removed", "vous ment", "sont une honte", "est une honte", "qui incitent",
        "qui souhaitent", "doivent etre supprime*", "doit etre supprime*", "incitement to",
        "incitation a", "appels au meurtre", "appel au meurtre", "not free speech",
        "pas de la liberte d'expression", "c'est un delit",
    ]),
    // ---------------------------------------------------------------- doxxing contexts
    (Cue::DoxPos, "dox.locating", false, &[
        "leak", "leaked", "'s number", "'s cell", "'s phone", "'s mobile", "'s email", "'s address",
        "le portable de", "le numero de", "le tel de", "l'adresse de", "su numero", "number:", "numero :",
        "got the number", "use it", "faites-vous plaisir", "cadeau", "belongs to", "appartient a",
        "immatriculee", "se gare", "parks", "real name", "vrai nom", "harcele", "harasses", "harassing",
        "identifie", "identified", "son domicile", "domicile :",
        // An IP tied to a person: caught by a logger, a VPN forgotten, a home line.
        "vpn", "residential", "residentielle", "logger", "iplogger", "ip logger", "ip grabber",
        "grabbed the ip", "grabbed his ip", "grabbed her ip", "chope l'ip", "choppe l'ip",
        "ip perso", "'s car", "'s truck", "'s van", "voiture de", "le camion de", "la box de", "c'est la box", "sa box", "his router", "her router", "his wifi",
        "her wifi", "mom's wifi", "alt account", "compte secondaire", "faux comptes",
        "sockpuppet", "fake accounts", "confirme :", "confirmed:", "posts from", "connecting from", "connects from", "came from his", "came from her",
        "registered to", "registered owner", "is registered", "a son nom", "au nom de", "aka",
        "exposed", "#exposed", "cheater exposed", "actual cell", "actual number", "new number",
        "is you", "c'est toi", "we all have it",
        "lives at", "lives on", "lives in", "live at", "living at", "lives right", "lives here", "home address",
        "his address", "her address", "their address", "address is", "address:", "address for", "addy",
        "home ip", "his ip", "her ip", "their ip", "ip is", "'s ip", "ip:", "home number", "his number",
        "her number", "his phone", "her phone", "his cell", "her cell", "cell:", "phone:", "personal",
        "private", "mobile", "his email", "her email", "personal email", "personal inbox", "email:", "inbox",
        "dox", "doxx*", "full dox", "found", "found him", "found her", "found you", "found the", "got the",
        "figured out", "unmask*", "behind @", "behind the account", "is the one", "the one who",
        "that's him", "thats him", "that's her", "thats her", "that's the guy", "that's the girl", "name:",
        "real name", "her name is", "his name is", "name is", "my ex", "ex wife", "ex-wife", "ex husband",
        "ex boyfriend", "ex girlfriend", "screenshot before", "everyone knows", "now you know", "you're welcome",
        "not so brave", "not so anonymous", "small town", "pinned it", "her house", "his house",
        "the house", "coords of", "coordinates of", "plate", "that's his car", "his car", "her car",
        "he drives", "she drives", "she parks", "he parks", "who keeps", "who posted", "snitch", "reporter is",
        "the reporter", "gave it away", "reflection", "lives right here", "works at", "goes to",
        "habite", "habites", "vit la", "vit a", "dort", "son adresse", "adresse :", "adresse perso",
        "adresse de", "sa maison", "chez lui", "chez elle", "son ip", "l'ip de", "ip :",
        "son num", "son numero", "son 06", "son 07", "son portable", "son tel", "tel :", "portable :",
        "portable perso", "numero perso", "fixe perso", "mail perso", "son mail", "mail :", "maail",
        "perso", "dox", "balance", "trouve", "trouvee", "demasque*", "derriere @", "qui se cache",
        "c'est lui", "c'est elle", "c'est la caisse", "sa caisse", "sa voiture", "sa plaque", "plaque",
        "nom :", "s'appelle", "mon ex", "faites tourner", "tout le monde sait",
        "pas si anonyme", "petite ville", "on voyait", "celle qui", "celui qui", "ou il se gare",
        "ou elle se gare", "voila ou", "voici ou", "voila son", "voici son", "c'est la que", "pile ici",
        "la maison", "se cache", "il habite", "elle habite", "sa rue", "ta rue", "i know you live",
        "i know where", "je sais ou",
        "home connection", "connected from", "logged in from", "posted from", "same ip",
        "s'est connecte depuis", "connecte depuis", "ip de connexion", "meme ip", "titulaire",
        "c'est la voiture de", "the car of", "it's definitely", "c'est bien lui", "c'est bien elle",
        // Where someone leaves their car.
        "elle la laisse", "il la laisse", "elle le laisse", "il le laisse", "garee", "garees",
        "c'est celle de", "c'est celui de",
    ]),
    (Cue::DoxAct, "dox.call_to_contact", false, &[
        "call him", "call her", "call them", "text him", "text her", "tell him", "tell her", "ask him",
        "ecrivez-lui", "ecrivez lui", "demandez-lui", "demandez lui", "keep an eye out",
        "ouvrez l'oeil", "post where", "postez ou", "ou vous la voyez", "ou vous le voyez",
        "ask her", "message him", "message her", "email him", "email her", "write to him", "flood",
        "spam", "harass", "blow up his", "blow up her", "pay him a visit", "pay her a visit", "visit him",
        "visit her", "go see", "let's have a chat", "have a chat", "do your thing",
        "you know what to do", "tell her manager", "tell his manager", "go tell", "remind her", "remind him",
        "let him know", "let her know", "share this", "spread this", "confirm", "can anyone confirm",
        "pay a visit", "use this one", "reads everything", "what you think", "what kind of person",
        "parents, you know", "appelez-le", "appelez-la", "appelez tous", "appelez-lui", "telephonez", "texto", "sms",
        "dites-lui", "dites lui", "ecrivez-lui", "ecrivez lui", "harcelez", "spammez", "inondez",
        "passez lui", "passez-lui", "allez lui", "rendez-lui visite", "rendez lui visite", "allez le voir",
        "allez la voir", "prevenez", "raconter a son patron", "son patron", "dites-lui ce que",
        "ce que vous en pensez", "ce que vous pensez", "qu'il ne passe plus", "coup de fil", "le bonjour",
        "partagez", "faites passer", "confirmez", "vous savez ce qu'elle", "vous savez ce qu'il",
        "utilisez celui-la",
        "qui veut appeler", "envoyez des appels", "envoyez des pizzas", "commandez des pizzas",
        "who wants to call", "send pizzas", "order pizzas to",
    ]),
    (Cue::Business, "context.business", false, &[
        "cabinet du", "le cabinet", "clinique", "pharmacie", "docteur", "dentiste", "notaire", "avocat",
        "our office moved", "moved to", "come say hi", "salon", "agence immobiliere",
        "inauguration", "degustation", "passez nous voir", "ouverte", "nouvelle boulangerie", "new shop",
        "new store", "grand opening", "come visit us",
        "just opened", "now open", "opened at", "grand opening", "open from", "opening hours", "open daily",
        "open 9", "we're hiring", "were hiring", "we are hiring", "hiring", "apply at", "apply in person",
        "send your cv", "send ur cv", "cv to", "job", "jobs available", "vacancy", "our office", "our shop",
        "our store", "visit us", "find us", "we moved", "we've moved", "come by", "best croissants",
        "looking for a decent", "decent coffee", "bakery", "diner", "cafe", "coffee shop", "bookshop",
        "pizzeria", "restaurant is at", "is located at", "head office", "headquarters", "reservations",
        "book a table", "new location", "has moved", "open 24/7", "open till", "open until",
        "reopened", "orders at", "order at", "livraison", "prise de rendez-vous", "doctolib",
        "cabinet medical", "medecine generale", "dental office", "mon-fri", "permits",
        "service centre", "service center", "finally open", "comedy night",
        "doors at", "doors open", "reception is at", "salle des fetes", "vide-grenier",
        "venez nombreux", "buvette", "brocante", "ouvert", "ouverture", "horaires", "on recrute", "recrute", "recrutement",
        "envoyez votre cv", "votre cv", "cherche un", "cherche une", "chetche", "boutique", "retrouvez",
        "on a demenage", "nous avons demenage", "boulangerie", "le petit zinc", "bon cafe", "si vous cherchez",
        "du mardi au", "du lundi au", "bureaux", "nos bureaux", "notre magasin", "magasin", "commerce",
        "brasserie", "salon de", "a temps partiel", "part-time", "part time", "full-time", "internship",
        "newsletter", "devis", "tarif", "tarifs",
        "food truck", "catering", "dealership", "concession", "showroom", "resto", "restaurant",
        "ramen", "bagels", "chemist", "bistrot", "bistro", "bike shop", "service desk", "closed on",
        "out-of-hours", "out of hours", "open on", "walk-ins", "is amazing", "so good", "rec:",
        "recommend", "recommande", "je recommande", "est top", "c'est top", "the queue", "la queue",
        "plombier", "plumber", "electrician", "electricien", "garagiste", "our garage", "notre garage",
        "my shop", "secretariat", "accueille", "vacation rental", "location saisonniere",
        "je loue", "i rent out", "infos au", "info at",
    ]),
    (Cue::PublicOffice, "context.public_office", false, &[
        "city hall", "town hall", "county clerk", "clerk's office", "council office", "dmv", "post office",
        "passport", "embassy", "consulate", "police station", "courthouse", "tax office", "public library",
        "visa", "appointments", "open 9 to 5", "weekdays", "mairie", "prefecture", "sous-prefecture",
        "centre des impots", "impots", "caf de", "cpam", "pole emploi", "france travail", "rendez-vous passeport",
        "justificatif", "hotel de ville", "commissariat", "tribunal de", "guichet", "administration",
        "permanence", "carte d'identite", "etat civil", "front desk", "objets trouves",
        "lost and found", "lost property", "turned it in", "elysee",
    ]),
    (Cue::SelfDisclose, "context.self_disclosure", false, &[
        "bookings", "portfolio", "commissions", "inquiries", "enquiries", "photographer here",
        "call me", "text me", "message me", "reach me", "contact me", "dm me", "email me", "ring me",
        "my number", "my email", "my phone", "my cell", "my mobile", "my address", "i'm around", "im around",
        "selling my", "i'm selling", "tutoring", "lessons", "first session", "free quote", "my business",
        "my shop", "my studio", "hire me", "book me", "i'm a freelance", "freelance", "available for",
        "appelez-moi", "appelez moi", "ecrivez-moi", "ecrivez moi", "contactez-moi", "contactez moi",
        "joignable", "me joindre", "me contacter", "mon numero", "mon num", "mon mail", "mon adresse",
        "mon portable", "cours de", "premier cours", "independant", "independante", "je vends", "je propose",
        "devis gratuit", "sms au", "envoyez-moi", "mp moi", "mon cabinet", "mon atelier",
        "my new place", "at my place", "housewarming", "chez moi", "at mine", "byob",
    ]),
    (Cue::Sale, "context.sale", false, &[
        "for sale", "4 sale", "selling", "miles", "mileage", "ono", "o.n.o", "no timewasters",
        "service history", "mot", "asking", "ask 4", "ask for photos", "price", "£", "€", "$", "obo",
        "a vendre", "vends", "km", "kilometrage", "carnet d'entretien", "pas serieux s'abstenir",
        "controle technique", "prix", "negociable", "premiere main", "leboncoin", "annonce",
    ]),
    (Cue::Listing, "context.property_listing", false, &[
        "to let", "pcm", "open house", "realtor", "viewings", "a louer", "for rent", "for sale",
        "a vendre", "agence", "estate agent", "letting agent", "lettings", "bed,",
        "2 bath", "pieces", "m2", "loyer", "charges comprises", "house for sale", "maison a vendre",
    ]),
    (Cue::Landmark, "context.landmark", false, &[
        "geolocaliser", "vos photos", "your photos", "observatoire", "observatory", "dune", "pic du",
        "statue", "tower", "eiffel", "viaduc", "viaduct", "monument", "cathedral", "cathedrale", "chateau",
        "castle", "bridge", "pont", "needle", "big ben", "landmark", "museum", "musee", "enjoy the view",
        "the view", "la vue", "sunrise", "sunset", "lever du soleil", "coucher du soleil", "geotag",
        "tourist", "touriste", "fun fact", "petite info", "le saviez-vous", "did you know", "summit",
        "sommet", "lighthouse", "phare", "stonehenge", "national park", "parc national", "abbey", "abbaye",
        "mont-saint-michel", "golden gate", "liberty", "louvre", "colosseum", "waterfall", "cascade",
        "hike", "randonnee", "put that in your gps", "mettez ca dans le gps", "meet at", "rendez-vous devant",
        "picnic", "pique-nique", "geocach*",
        "trailhead", "trail", "hiking", "rando", "randonneurs", "depart de", "point de rdv",
        "point de rendez-vous", "sortie velo", "group ride", "meeting point", "parking fills",
        "grand theatre", "theatre", "stade", "stadium", "le col", "viewpoint", "belvedere",
    ]),
    (Cue::Order, "context.order", false, &[
        "order", "orders", "order number", "package", "parcel", "tracking", "tracking number", "delivery",
        "out for delivery", "return label", "invoice", "refund", "ticket", "ref", "reference", "receipt",
        "commande", "colis", "suivi", "livraison", "numero de suivi", "facture", "remboursement",
        "rembourse", "bon de commande", "expedie*", "en preparation", "n°", "no.", "cmd",
    ]),
    (Cue::Tech, "context.tech_support", false, &[
        "version", "crash", "crashes", "route", "routes", "routing", "release", "patch", "changelog", "bug",
        "server", "router", "nas", "ping", "ssh", "gateway", "dns", "dhcp", "static ip", "subnet",
        "firewall", "fail2ban", "port", "ports", "lan", "wifi", "config", "upgrade", "upgrading", "update",
        "reboot", "my pi", "raspberry", "docker", "vm", "localhost", "traceroute", "any ideas", "any ieas",
        "help?", "kernel", "nginx", "apache", "ubuntu", "debian", "printer", "test server", "homelab",
        "ip fixe", "passerelle", "serveur", "routeur", "box", "la box", "mise a jour", "mise-a-jour",
        "parefeu", "pare-feu", "imprimante", "portable", "reseau", "network", "whitelist", "blacklist",
        "blocking", "bloque", "bloqque", "joindre depuis", "respond", "ne repond",
    ]),
    (Cue::Fictional, "context.fictional_place", false, &[
        "only exists in", "exists only in", "fictional", "fiction", "based on a real", "real street",
        "grimmauld", "evergreen terrace", "baker street", "221b", "privet drive", "wisteria lane",
        "sesame street", "conch street", "n'existe que", "n'existe pas", "d'un livre",
        "in my novel", "my novel", "dans mon roman", "mon roman", "romans", "litterature",
        "literature", "pnj", "npc", "jdr", "sitcom", "cartoon", "dessin anime", "simpsons",
        "tintin", "maigret", "sherlock", "breaking bad", "harry potter", "grows up at",
        "roman policier", "the office", "back to the future", "moulinsart", "springfield",
        "dans un livre", "dans la serie", "in the show", "in the book", "in the series", "fun fact",
        "le saviez-vous", "anecdote", "bikini bottom", "spooner street", "hogwarts",
    ]),
    (Cue::Service, "context.customer_service", false, &[
        "helpline", "hotline", "customer service", "customer support", "support line", "on hold", "call centre",
        "call center", "their number", "their helpline", "their line", "broadband", "mobile provider",
        "refunded", "picks up", "nobody picks up", "service client", "sav", "hotline", "operateur",
        "leur numero", "leur service", "en attente", "un humain", "assurance", "mutuelle", "banque",
        "fournisseur", "standard",
    ]),
    (Cue::Vehicle, "context.vehicle", false, &[
        "plate", "plates", "reg", "registration", "licence", "license", "tag", "car", "truck", "van",
        "jeep", "suv", "drives", "driving", "parked", "numberplate", "number plate", "ford", "toyota",
        "honda", "chevy", "bmw", "audi", "tesla", "kia", "vw", "golf", "prius", "civic", "wrangler",
        "plaque", "immatriculation", "immat", "voiture", "caisse", "bagnole", "clio", "twingo",
        "scenic", "kangoo", "peugeot", "renault", "citroen", "c3", "208", "308", "roule", "gare", "garee",
    ]),
    (Cue::Errand, "context.errand", false, &[
        "drop off your", "drop your", "drop it off", "drop them off", "bring back your",
        "bring you your", "give you back", "return your", "pick up your",
        "your jacket", "your keys", "your umbrella", "your parcel", "your package", "the parcel",
        "the cake", "birthday cake", "je te ramene", "je te rapporte", "je t'amene", "je te depose",
        "je te laisse ton", "je te laisse ta", "je te laisse tes",
        "te deposer", "te rendre", "te ramener", "tes cles", "ton colis", "le colis", "le gateau",
        "ta veste", "ton parapluie", "ton plat", "ton echarpe",
    ]),
    (Cue::Workplace, "context.workplace", false, crate::workplace::BRANDS),
    (Cue::Workplace, "context.workplace", false, &[
        "guard", "security", "she's at", "shes at", "he's at", "hes at", "agent", "chef", "identifie",
        "garage", "staff", "travail*", "inscr*", "scolar*", "grammar", "primary", "lycee*",
        "works", "work at", "working at", "worked at", "employed", "cashier", "supervisor", "manager",
        "teacher", "school", "high", "academy", "college", "university", "elementary", "middle school",
        "student", "junior", "senior", "front desk", "clerk", "nurse", "shift", "goes to", "attends",
        "travaille", "bosse", "taffe", "enseigne", "prof", "professeur", "lycee", "college", "ecole",
        "universite", "fac", "scolarise*", "inscrit*", "eleve", "etudiant*", "caissier*", "agent de",
        "chef d'equipe", "vendeu*", "accueil", "chez", "infirmi*", "serveu*", "employe*", "livreur",
        // Every role the name + workplace pattern knows, so that the detector runs.
        "receptionist", "stocker", "carer", "porter", "cleaner", "lifeguard", "dispatcher",
        "paralegal", "accountant", "engineer", "developer", "designer", "analyst", "consultant",
        "nanny", "babysitter", "bouncer", "firefighter", "midwife", "therapist", "physio", "teller",
        "courier", "moderator", "trainer", "instructor", "tutor", "coach", "barista", "waiter",
        "waitress", "bartender", "driver", "mechanic", "technician", "pharmacist", "paramedic",
        "librarian", "janitor", "caretaker", "secretary", "assistant", "intern", "doctor", "dentist",
        "professor", "lecturer", "principal", "counselor", "counsellor", "stylist", "hairdresser",
        "aide-soignant*", "auxiliaire", "preparat*", "educat*", "ouvrier*", "magasinier*", "atsem",
        "aesh", "hotesse de caisse", "charge de td", "chargee de td", "ingenieur*", "developpeu*",
        "assistante", "vigile", "moderat*", "en bts", "en dut", "en but", "en licence", "en master",
        "en l1", "en l2", "en l3", "en m1", "en m2", "en prepa", "en cap", "en bac pro",
        "en alternance", "en stage", "standardiste", "comptable", "pharmacien*", "coiffeu*", "medecin",
        "directeu*", "secretaire", "stagiaire", "animat*", "surveillant*", "boulang*", "conseill*",
        "responsable", "officer", "worker", "employee", "representative", "director",
        "administrator", "sophomore", "freshman", "pupil", "coordinator", "hygienist", "team leader",
        "gerant*", "entraineu*", "qui bosse", "est en terminale", "est en seconde", "est en premiere",
        "chauffeur", "chauffeuse", "videur", "barman", "barmaid", "prepose*", "cuisinier*",
        "en cp", "en ce1", "en ce2", "en cm1", "en cm2", "l2 de", "l1 de", "l3 de", "grade at",
        "grade in", "year at", "ta in", "doorman", "forklift", "works behind",
        "agent d'accueil", "y travaille",
    ]),
];

/// The compiled lexicon.
///
/// Matched word by word, not byte by byte. The folded text is cut into words (maximal runs of
/// [`WORD`] bytes) and, from each word, walks a trie of the entries' words held in a hash
/// table: the node of "i know" exists because entries start with it, and from there the walk
/// looks up "i know where", and so on while the text's words are a prefix of some entry. Each
/// entry found is compared byte for byte and checked for word boundaries exactly as an
/// Aho–Corasick match is, so the hits are those of one overlapping Aho–Corasick search over
/// every entry, in the same order (the test `word_lookup_agrees_with_the_aho_corasick_walk`
/// holds it to that). Why not the automaton: with 20,000 entries and variants its table is
/// 64 MiB, and walking it took a cache miss on almost every letter; here a word costs one or
/// two probes of a table of 1 MiB.
#[derive(Debug)]
pub(crate) struct Lexicon {
    pats: Vec<Pattern>,
    /// The bytes of every pattern, back to back.
    bytes: Vec<u8>,
    /// Open addressing with linear probing, node key → node; a power of two long and at most
    /// half full, so every probe sequence ends at an empty slot.
    slots: Vec<Slot>,
    /// Pattern ids, in runs, each run in increasing id order.
    ids: Vec<u32>,
    /// One bit per node key (its top bits): most words of a post start no entry, and the
    /// answer for them comes from these 64 KiB instead of a cache miss in `slots`.
    filter: Vec<u64>,
    /// `hash(b" ")`.
    space: u64,
    /// By a word's two-byte head ([`head`]): bit `L` is set when a stem (an entry's last word
    /// ending in `*`) of `L` bytes may start the word. Most words start no stem and need no
    /// probe; the others, one probe a length.
    stem_heads: Box<[u32; HEADS]>,
    /// Patterns found by substring search instead, with their searchers: left-free ones
    /// (`*throat*`) and any without a word (`$`).
    loose: Vec<(u32, memchr::memmem::Finder<'static>)>,
}

/// A word of the folded text (a maximal run of [`WORD`] bytes) and the hash of its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Word {
    start: usize,
    end: usize,
    hash: u64,
}

/// One entry or variant.
#[derive(Debug, Clone, Copy)]
struct Pattern {
    /// Its bytes: `bytes[off..off + len]`.
    off: u32,
    len: u32,
    /// Length of what comes before its first word ("'s legs": 1), 0 when a word opens it.
    lead: u32,
    entry: Entry,
}

/// A node of the word trie: the entries that end at it, and whether the walk goes on.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: u64,
    /// The entries whose words are exactly this node's: `ids[from..from + len]`.
    from: u32,
    len: u16,
    flags: u16,
}

/// [`Slot::flags`]: the slot is in use.
const USED: u16 = 1;
/// Some entry has more words after this node's.
const PREFIX: u16 = 2;
/// Some entry's next and last word after this node's is a stem.
const STEM_NEXT: u16 = 4;

const K_MUL: u64 = 0x9e37_79b9_7f4a_7c15;
const K_MUL2: u64 = 0xc2b2_ae3d_27d4_eb4f;
const SALT_STEM: u64 = 0x5bd1_e995_0000_0001;

/// A hash of a byte string (a collision costs a comparison, never a wrong hit: every entry
/// found is compared byte for byte). Eight bytes a step; the last step reads the last eight
/// bytes, overlapping the one before, and a string under eight bytes is read as two
/// overlapping halves, so that no byte is copied one at a time.
#[inline]
fn hash(b: &[u8]) -> u64 {
    let n = b.len();
    let mut h = (n as u64).wrapping_mul(K_MUL2);
    let mix = |h: u64, v: u64| (h ^ v).wrapping_mul(K_MUL).rotate_left(29);
    let word8 = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let word4 = |i: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[i..i + 4]);
        u64::from(u32::from_le_bytes(w))
    };
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            h = mix(h, word8(i));
            i += 8;
        }
        h = mix(h, word8(n - 8));
    } else if n >= 4 {
        h = mix(h, word4(0) | word4(n - 4) << 32);
    } else {
        let v = match *b {
            [x] => u64::from(x),
            [x, y] => u64::from(x) | u64::from(y) << 8,
            [x, y, z] => u64::from(x) | u64::from(y) << 8 | u64::from(z) << 16,
            _ => 0,
        };
        h = mix(h, v);
    }
    h ^ (h >> 31)
}

/// The key of a node one word below `node`, from the hashes of the separator and the word.
#[inline]
fn child_key(node: u64, sep: u64, word: u64) -> u64 {
    ((node.rotate_left(17) ^ sep).wrapping_mul(K_MUL) ^ word.rotate_left(41)).wrapping_mul(K_MUL2)
}

/// Number of [`Lexicon::stem_heads`] entries.
const HEADS: usize = 1 << 12;

/// The [`Lexicon::stem_heads`] entry of a word's first two bytes (a one-byte word's second
/// byte counts as 0). Heads that share an entry share their lengths: a probe too many.
#[inline]
fn head(a: u8, b: u8) -> usize {
    (usize::from(a) << 6 ^ usize::from(b)) & (HEADS - 1)
}

/// The end of the run of word bytes (or, with `word == false`, of non-word bytes) from `i`.
#[inline]
fn run_end(b: &[u8], mut i: usize, word: bool) -> usize {
    while i < b.len() && WORD[usize::from(b[i])] == word {
        i += 1;
    }
    i
}

/// The words of `b`, in order. Word bytes are flagged sixteen at a time into a bit mask;
/// the words' starts and ends are its bit changes.
fn split_words(b: &[u8], words: &mut Vec<Word>) {
    words.clear();
    let mut start = 0;
    let mut in_word = false;
    for (k, chunk) in b.chunks(16).enumerate() {
        let base = k * 16;
        // Zero padding is not a word byte: a word running into it ends at the text's end.
        let m = u32::from(match <&[u8; 16]>::try_from(chunk) {
            Ok(block) => word_mask(block),
            Err(_) => {
                let mut block = [0u8; 16];
                block[..chunk.len()].copy_from_slice(chunk);
                word_mask(&block)
            }
        });
        // Bit j of `before`: byte j - 1 is a word byte (for j = 0, the previous chunk's last).
        let before = m << 1 | u32::from(in_word);
        let starts = m & !before;
        let mut changes = (starts | (!m & before)) & (u32::MAX >> (32 - chunk.len()));
        while changes != 0 {
            let j = changes.trailing_zeros() as usize;
            changes &= changes - 1;
            if starts >> j & 1 != 0 {
                start = base + j;
            } else {
                let end = base + j;
                words.push(Word {
                    start,
                    end,
                    hash: hash(&b[start..end]),
                });
            }
        }
        in_word = m >> (chunk.len() - 1) & 1 != 0;
    }
    if in_word {
        words.push(Word {
            start,
            end: b.len(),
            hash: hash(&b[start..]),
        });
    }
}

/// Bit `j` set when `block[j]` is a [`WORD`] byte.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn word_mask(block: &[u8; 16]) -> u16 {
    // SAFETY: the only requirement of a `#[target_feature]` function is that the CPU has the
    // feature, and this is compiled only where SSE2 is enabled for the whole build (it is part
    // of x86_64).
    unsafe { word_mask_sse2(block) }
}

/// [`word_mask`] in an SSE2 register: about a dozen instructions for sixteen bytes.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
#[inline]
fn word_mask_sse2(block: &[u8; 16]) -> u16 {
    use crate::normalize::{between_sse2, load_sse2};
    use std::arch::x86_64::*;
    let x = load_sse2(block);
    // `x | 0x20` is in 'a'..='z' exactly for the ASCII letters of either case; non-ASCII
    // bytes are below every bound and flagged by their sign bit.
    let letter = between_sse2(_mm_or_si128(x, _mm_set1_epi8(0x20)), b'a', b'z');
    let digit = between_sse2(x, b'0', b'9');
    let ascii_word = _mm_movemask_epi8(_mm_or_si128(letter, digit));
    let non_ascii = _mm_movemask_epi8(x);
    (ascii_word | non_ascii) as u16
}

/// [`word_mask`] a byte at a time, where SSE2 is not part of the target (and, in tests, the
/// reference the SSE2 version must agree with).
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn word_mask_plain(block: &[u8; 16]) -> u16 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (j, &c)| m | u16::from(WORD[usize::from(c)]) << j)
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn word_mask(block: &[u8; 16]) -> u16 {
    word_mask_plain(block)
}

/// Number of `u64` words of [`Lexicon::filter`]: 2^19 bits.
const FILTER_WORDS: usize = 1 << 13;

/// The word and bit of `key` in [`Lexicon::filter`], from the key's top 19 bits (the slot
/// index comes from its low bits).
#[inline]
fn filter_bit(key: u64) -> (usize, u64) {
    let i = (key >> 45) as usize;
    (i >> 6, 1 << (i & 63))
}

/// A node under construction.
#[derive(Default)]
struct NodeBuild {
    ids: Vec<u32>,
    flags: u16,
}

fn patterns_and_entries() -> (Vec<String>, Vec<Entry>) {
    let mut patterns: Vec<String> = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    for (cue, rule, fuzzy, list) in GROUPS {
        for raw in list.iter() {
            let left_free = raw.starts_with('*');
            let right_free = raw.ends_with('*');
            let core = raw.trim_matches('*');
            let entry = Entry {
                cue: *cue,
                rule,
                left_free,
                right_free,
                exact: true,
            };
            patterns.push(core.to_string());
            entries.push(entry);
            // Stems get no variants: "rape*" doubled would be "rappe*" and match "rappel".
            if *fuzzy && !right_free {
                for v in variants(core) {
                    patterns.push(v);
                    entries.push(Entry {
                        exact: false,
                        ..entry
                    });
                }
            }
        }
    }
    (patterns, entries)
}

impl Lexicon {
    pub fn new() -> Result<Self, crate::Error> {
        let (patterns, entries) = patterns_and_entries();
        let bad = |what: &str| crate::Error::Pattern(format!("lexicon: {what}"));
        let mut pats = Vec::with_capacity(patterns.len());
        let mut bytes = Vec::new();
        let mut nodes: std::collections::HashMap<u64, NodeBuild> = std::collections::HashMap::new();
        let mut loose = Vec::new();
        let mut stem_heads = Box::new([0u32; HEADS]);
        for (i, (p, e)) in patterns.iter().zip(&entries).enumerate() {
            let p = p.as_bytes();
            let id = u32::try_from(i).map_err(|_| bad("too many entries"))?;
            if p.is_empty() || p.contains(&0) {
                return Err(bad("empty entry or NUL in an entry"));
            }
            let lead = run_end(p, 0, false);
            pats.push(Pattern {
                off: u32::try_from(bytes.len()).map_err(|_| bad("too long"))?,
                len: u32::try_from(p.len()).map_err(|_| bad("too long"))?,
                lead: u32::try_from(lead).map_err(|_| bad("too long"))?,
                entry: *e,
            });
            bytes.extend_from_slice(p);
            // The words and the separators between them; a separator after the last word
            // is left to the byte comparison.
            let mut words: Vec<(usize, usize)> = Vec::new();
            let mut a = lead;
            while a < p.len() {
                let end = run_end(p, a, true);
                words.push((a, end));
                a = run_end(p, end, false);
            }
            let ends_in_word = words.last().is_some_and(|&(_, end)| end == p.len());
            let stem = e.right_free && ends_in_word;
            let stem_len = words.last().map_or(0, |&(a, end)| end - a);
            if e.left_free || words.is_empty() || (stem && stem_len >= 32) {
                loose.push((id, memchr::memmem::Finder::new(p).into_owned()));
                continue;
            }
            let mut key = 0;
            let last = words.len() - 1;
            for (k, &(a, end)) in words.iter().enumerate() {
                let w = hash(&p[a..end]);
                let child = if k == 0 {
                    w
                } else {
                    child_key(key, hash(&p[words[k - 1].1..a]), w)
                };
                if k == last && stem {
                    if k > 0 {
                        nodes.entry(key).or_default().flags |= STEM_NEXT;
                    }
                    key = child ^ SALT_STEM;
                    if stem_len == 1 {
                        // Any word that starts with this byte: every head that does.
                        for second in 0..=255 {
                            stem_heads[head(p[a], second)] |= 1 << stem_len;
                        }
                    } else {
                        stem_heads[head(p[a], p[a + 1])] |= 1 << stem_len;
                    }
                } else {
                    if k > 0 {
                        nodes.entry(key).or_default().flags |= PREFIX;
                    }
                    key = child;
                }
            }
            nodes.entry(key).or_default().ids.push(id);
        }
        let mut filter = vec![0u64; FILTER_WORDS];
        for &key in nodes.keys() {
            let (w, bit) = filter_bit(key);
            filter[w] |= bit;
        }
        let size = (2 * nodes.len()).next_power_of_two();
        let mut slots = vec![Slot::default(); size];
        let mut ids = Vec::with_capacity(patterns.len());
        let mut keys: Vec<u64> = nodes.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let Some(node) = nodes.get(&key) else {
                continue;
            };
            let from = u32::try_from(ids.len()).map_err(|_| bad("too many entries"))?;
            let len = u16::try_from(node.ids.len()).map_err(|_| bad("too many equal entries"))?;
            // Ids were pushed in increasing order.
            ids.extend_from_slice(&node.ids);
            let mut at = key as usize & (size - 1);
            while slots[at].flags & USED != 0 {
                at = (at + 1) & (size - 1);
            }
            slots[at] = Slot {
                key,
                from,
                len,
                flags: node.flags | USED,
            };
        }
        Ok(Lexicon {
            pats,
            bytes,
            slots,
            ids,
            filter,
            space: hash(b" "),
            stem_heads,
            loose,
        })
    }

    /// The node of `key`, if any.
    #[inline]
    fn node(&self, key: u64) -> Option<Slot> {
        let (w, bit) = filter_bit(key);
        if self.filter.get(w).is_none_or(|&f| f & bit == 0) {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut at = key as usize & mask;
        loop {
            let s = *self.slots.get(at)?;
            if s.flags & USED == 0 {
                return None;
            }
            if s.key == key {
                return Some(s);
            }
            at = (at + 1) & mask;
        }
    }

    /// All hits in `folded`, boundary-checked, in the order of the overlapping Aho–Corasick
    /// search: by end, then longer first, then by entry.
    pub fn scan(&self, folded: &str, out: &mut Vec<Hit>) {
        self.scan_words(folded, &mut Vec::new(), out);
    }

    /// [`Lexicon::scan`] with a buffer for the words of the text, reused across calls.
    pub fn scan_words(&self, folded: &str, words: &mut Vec<Word>, out: &mut Vec<Hit>) {
        let b = folded.as_bytes();
        let first = out.len();
        split_words(b, words);
        for (i, w) in words.iter().enumerate() {
            let a = w.start;
            let first_word = &b[a..w.end];
            self.stems(
                b,
                a,
                first_word,
                |l| hash(&first_word[..l]) ^ SALT_STEM,
                out,
            );
            // Down the trie while the words read so far start some entry.
            let (mut key, mut last) = (w.hash, w);
            let mut rest = words.get(i + 1..).unwrap_or(&[]).iter();
            while let Some(node) = self.node(key) {
                self.try_all(b, a, node, out);
                if node.flags & (PREFIX | STEM_NEXT) == 0 {
                    break;
                }
                let Some(next) = rest.next() else { break };
                // Most separators are one space: its hash is a constant.
                let sep = if next.start == last.end + 1 && b[last.end] == b' ' {
                    self.space
                } else {
                    hash(&b[last.end..next.start])
                };
                if node.flags & STEM_NEXT != 0 {
                    let word = &b[next.start..next.end];
                    let parent = key;
                    let key_of = |l: usize| child_key(parent, sep, hash(&word[..l])) ^ SALT_STEM;
                    self.stems(b, a, word, key_of, out);
                }
                if node.flags & PREFIX == 0 {
                    break;
                }
                key = child_key(key, sep, next.hash);
                last = next;
            }
        }
        for (id, finder) in &self.loose {
            let mut from = 0;
            while let Some(at) = b.get(from..).and_then(|r| finder.find(r)) {
                self.try_at(b, from + at, *id, out);
                from += at + 1;
            }
        }
        out[first..].sort_unstable_by_key(|h| (h.end, h.start, h.order));
    }

    /// The stems that `word` starts with (their keys by stem length from `key_of`), for
    /// entries whose first word starts at `a`.
    #[inline]
    fn stems(
        &self,
        b: &[u8],
        a: usize,
        word: &[u8],
        key_of: impl Fn(usize) -> u64,
        out: &mut Vec<Hit>,
    ) {
        let h = match *word {
            [a, b, ..] => head(a, b),
            [a] => head(a, 0),
            [] => return,
        };
        // Lengths up to the word's.
        let mut lens = self.stem_heads[h] & (u32::MAX >> (31 - word.len().min(31)));
        while lens != 0 {
            let l = lens.trailing_zeros() as usize;
            lens &= lens - 1;
            if let Some(node) = self.node(key_of(l)) {
                self.try_all(b, a, node, out);
            }
        }
    }

    fn pattern(&self, id: u32) -> Option<&[u8]> {
        let p = self.pats.get(id as usize)?;
        self.bytes.get(p.off as usize..(p.off + p.len) as usize)
    }

    /// Each entry of `node`, its first word starting at `a`.
    #[inline]
    fn try_all(&self, b: &[u8], a: usize, node: Slot, out: &mut Vec<Hit>) {
        let from = node.from as usize;
        for &id in self
            .ids
            .get(from..from + usize::from(node.len))
            .unwrap_or(&[])
        {
            if let Some(p) = self.pats.get(id as usize) {
                if let Some(s) = a.checked_sub(p.lead as usize) {
                    self.try_at(b, s, id, out);
                }
            }
        }
    }

    /// Pattern `id` at `b[s..]`, with the boundary rules of the entries.
    #[inline]
    fn try_at(&self, b: &[u8], s: usize, id: u32, out: &mut Vec<Hit>) {
        let (Some(p), Some(pat)) = (self.pats.get(id as usize), self.pattern(id)) else {
            return;
        };
        let t = s + pat.len();
        if b.get(s..t) != Some(pat) {
            return;
        }
        let e = p.entry;
        let word = |i: usize| WORD[usize::from(b[i])];
        let left_ok = e.left_free || s == 0 || !word(s - 1) || !word(s);
        let right_ok = e.right_free || t == b.len() || !word(t) || !word(t - 1);
        if left_ok && right_ok {
            out.push(Hit {
                cue: e.cue,
                rule: e.rule,
                start: s,
                end: t,
                exact: e.exact,
                order: id,
            });
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.pats.len()
    }
}

#[cfg(test)]
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c >= 0x80
}

/// [`is_word`] of every byte: one load in the reporting loop instead of three range tests.
static WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_alphanumeric() || c >= 0x80;
        c += 1;
    }
    t
};

/// Every generated spelling variant with its source entry, to audit them against ordinary words.
pub fn all_variants() -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for (_, _, fuzzy, list) in GROUPS {
        if !*fuzzy {
            continue;
        }
        for raw in list.iter().filter(|r| !r.ends_with('*')) {
            for v in variants(raw.trim_matches('*')) {
                out.push((v, *raw));
            }
        }
    }
    out
}

/// Spelling variants of a lexicon entry: one internal letter dropped (words of 5+ letters),
/// two adjacent letters swapped, one letter doubled.
fn variants(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let n = chars.len();
    // Position of each char within its word and that word's length.
    let mut word_len = vec![0usize; n];
    let mut pos_in_word = vec![0usize; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && chars[j].is_ascii_alphabetic() {
            j += 1;
        }
        for k in i..j {
            word_len[k] = j - i;
            pos_in_word[k] = k - i;
        }
        i = j.max(i + 1);
    }
    // Variants that are ordinary words.
    const DENY: &[&str] = &[
        "vole", "dad", "bat", "bet", "hut", "bun", "mot", "ball", "sot", "buy", "ill", "roe",
        "bale", "bets", "beta", "hurl", "cut", "tue", "dire", "diet", "tied", "deal", "dean",
        "lead", "bate", "ruin", "bury", "shto", "hots", "host", "burr", "tire", "tiere", "pendu",
        "more", "mors", "moto", "plate", "voile", "code", "incendie", "assassin", "etranger",
        "plane", "pate", "shoo", "sho", "kils", "stabe", "bomber", "cote", "bale", "baler",
        "corde", "brule", "tuee", "tues", "planet",
        // Found by auditing every variant against Debian's English and French word lists.
        "signer", "voler", "voiler", "viler", "vile", "creer", "cree", "creez", "creent", "came",
        "camer", "camez", "carme", "carmer", "cram", "caser", "casez", "gaze", "gazes", "bulle",
        "bulles", "caid", "biser", "brise", "brier", "bled", "butter", "butte", "cord", "core",
        "cored", "dise", "ides", "ebat", "exposer", "liming", "mote", "mots", "murer", "murir",
        "pante", "planer", "plant", "racle", "rapped", "soot", "strange", "tees", "tons", "tuns",
        "tortue", "tranche", "cases", "gorgee", "visserai", "roules", "brun", "bruns", "buns",
        "burs", "bunt", "rapee", "rapees", "raps", "rapin", "rapping", "silt", "silts", "sits",
        "sitting", "laide", "laides", "lapie", "lapiez",
    ];
    let push = |v: Vec<char>, out: &mut Vec<String>| {
        let v: String = v.into_iter().collect();
        if v != s && v.len() >= 4 && !DENY.contains(&v.as_str()) {
            out.push(v);
        }
    };
    for k in 0..n {
        if !chars[k].is_ascii_alphabetic() {
            continue;
        }
        // Deletion of a non-initial letter in a word of 5+ letters ("deth", "murdr").
        if (word_len[k] >= 5 && pos_in_word[k] > 0)
            || (word_len[k] == 4 && (1..3).contains(&pos_in_word[k]))
        {
            let mut v = chars.clone();
            v.remove(k);
            push(v, &mut out);
        }
        // Swap with the next letter of the same word ("klil", "deaht", "tortuer").
        if k + 1 < n
            && chars[k + 1].is_ascii_alphabetic()
            && chars[k] != chars[k + 1]
            && word_len[k] >= 4
        {
            let mut v = chars.clone();
            v.swap(k, k + 1);
            push(v, &mut out);
        }
        // Doubling ("tortuerr", "biien").
        if word_len[k] >= 3 {
            let mut v = chars.clone();
            v.insert(k, chars[k]);
            push(v, &mut out);
        }
    }
    // A phrase with its spaces removed ("tuerce", "gorgesde"): HateCheck's space deletion.
    if s.contains(' ') && s.len() >= 6 {
        out.push(s.replace(' ', ""));
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::automaton::{Automaton, StateID};
    use aho_corasick::{dfa::DFA, Anchored, MatchKind};

    /// The overlapping Aho–Corasick DFA of every pattern: the reference the word lookup must
    /// agree with.
    fn build_ac(patterns: &[String]) -> (DFA, StateID) {
        let dfa = DFA::builder()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(patterns)
            .expect("dfa builds");
        let start = dfa.start_state(Anchored::No).expect("start state");
        (dfa, start)
    }

    fn cues(text: &str) -> Vec<(Cue, String)> {
        let lex = Lexicon::new().expect("lexicon builds");
        let mut folded = String::new();
        crate::normalize::fold(text, &mut folded);
        let mut hits = Vec::new();
        lex.scan(&folded, &mut hits);
        hits.into_iter()
            .map(|h| (h.cue, folded[h.start..h.end].to_string()))
            .collect()
    }

    fn has(text: &str, cue: Cue) -> bool {
        cues(text).iter().any(|(c, _)| *c == cue)
    }

    #[test]
    fn variants_cover_typos() {
        let v = variants("murder");
        assert!(v.contains(&"murdr".to_string()));
        let v = variants("kill");
        assert!(v.contains(&"klil".to_string()));
        assert!(
            !v.contains(&"ill".to_string()),
            "deletions stay off short words"
        );
        let v = variants("torture");
        assert!(v.contains(&"tortuer".to_string()));
    }

    /// Spelling variants and stems that are everyday words elsewhere ("signer" from "saigner",
    /// "créer" from "crever", "came" from "crame", "sitting" from "slitting", "rapeseed", "stabiliser",
    /// "burnout", "punchline", "exécutif") are not violence.
    #[test]
    fn everyday_words_are_not_violence() {
        for text in [
            "avant de signer le bail",
            "je vais créer un groupe",
            "he came home",
            "baby-sitting le samedi",
            "rapeseed oil",
            "stabiliser le budget",
            "a burnout at work",
            "the punchline",
            "le pouvoir exécutif",
            "la tranche d'âge",
            "je vais voler jusqu'à Nice",
            "a strange gaze",
        ] {
            assert!(!has(text, Cue::Violence), "{text}: {:?}", cues(text));
        }
        for text in [
            "he was stabbed",
            "je vais le lapider",
            "they burnt it",
            "she was raped",
        ] {
            assert!(has(text, Cue::Violence), "{text}");
        }
    }

    #[test]
    fn word_boundaries_and_stems() {
        assert!(has("I will k1ll you", Cue::Violence));
        assert!(!has("skillful play", Cue::Violence) || has("skillful play", Cue::Game));
        assert!(has("We'll torturerons", Cue::Violence));
        assert!(has("cut their gaythroats", Cue::Violence));
    }

    /// The reference walk over `aho_corasick`'s own DFA, which the word lookup must agree with.
    fn scan_with_ac(
        dfa: &DFA,
        start: StateID,
        entries: &[Entry],
        pats: &[String],
        folded: &str,
    ) -> Vec<(usize, usize, &'static str)> {
        let b = folded.as_bytes();
        let mut out = Vec::new();
        let mut sid = start;
        for (i, &byte) in b.iter().enumerate() {
            sid = dfa.next_state(Anchored::No, sid, byte);
            if !dfa.is_special(sid) || !dfa.is_match(sid) {
                continue;
            }
            let t = i + 1;
            for k in 0..dfa.match_len(sid) {
                let pid = dfa.match_pattern(sid, k).as_usize();
                let (e, len) = (&entries[pid], pats[pid].len());
                let s = t - len;
                let left_ok = e.left_free || s == 0 || !is_word(b[s - 1]) || !is_word(b[s]);
                let right_ok = e.right_free || t == b.len() || !is_word(b[t]) || !is_word(b[t - 1]);
                if left_ok && right_ok {
                    out.push((s, t, e.rule));
                }
            }
        }
        out
    }

    /// The word lookup gives exactly the hits of the `aho_corasick` walk, in the same order,
    /// on random strings over the entries' bytes, on folded sentences and on every post of
    /// the probe and ordinary-post sets.
    #[test]
    fn word_lookup_agrees_with_the_aho_corasick_walk() {
        let lex = Lexicon::new().expect("lexicon builds");
        let (pats, entries) = patterns_and_entries();
        let (dfa, start) = build_ac(&pats);
        let check = |folded: &str| {
            let mut hits = Vec::new();
            lex.scan(folded, &mut hits);
            let got: Vec<_> = hits.iter().map(|h| (h.start, h.end, h.rule)).collect();
            assert_eq!(
                got,
                scan_with_ac(&dfa, start, &entries, &pats, folded),
                "{folded:?}"
            );
        };
        for t in [
            "i will kill you",
            "je vais te tuer",
            "t'es mort",
            "",
            "k",
            "va",
            "a la sortie du lycee",
            "help? 4 sale n° 12 £ € o.n.o",
            "gaythroats",
            "you're dead, i know where you live",
        ] {
            check(t);
        }
        let mut texts =
            crate::TestTexts::new("abcdeiklmnorstuvy '-.?°€£$", 40, 0x9e37_79b9_7f4a_7c15);
        let mut words = crate::TestTexts::new("x", 2, 0x2545_f491_4f6c_dd1d);
        let short: Vec<&String> = pats.iter().filter(|p| p.len() < 12).collect();
        let all: Vec<&String> = pats.iter().collect();
        for round in 0..30_000 {
            // Short entries most of the time; any entry (long phrases and their variants)
            // one time in three.
            let list = if round % 3 == 0 { &all } else { &short };
            let mut t = texts.text();
            // Entries glued to random text, so that matches and boundaries are exercised.
            for _ in 0..3 {
                let w = list[(words.number() % list.len() as u64) as usize];
                t.push_str(w);
                if words.number().is_multiple_of(2) {
                    t.push(' ');
                }
                let tail = texts.text();
                t.push_str(&tail);
            }
            check(&t);
        }
        // Real posts, folded as the scan folds them.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
        for file in ["probes.jsonl", "neutral.jsonl"] {
            let data = std::fs::read_to_string(format!("{dir}{file}")).expect("data set");
            let mut folded = String::new();
            for line in data.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("json line");
                crate::normalize::fold(v["text"].as_str().unwrap_or(""), &mut folded);
                check(&folded);
            }
        }
    }

    /// The word mask agrees with the byte-by-byte one on every byte value in every lane.
    #[test]
    fn word_mask_agrees_with_the_plain_one() {
        for c in 0..=255u8 {
            for lane in 0..16 {
                let mut block = [b' '; 16];
                block[lane] = c;
                assert_eq!(word_mask(&block), word_mask_plain(&block), "{c} at {lane}");
            }
        }
        let mut texts = crate::TestTexts::new("aZ09 '-.é\u{1}\u{7f}", 17, 7);
        for _ in 0..5_000 {
            let t = texts.text();
            let mut block = [0u8; 16];
            let n = t.len().min(16);
            block[..n].copy_from_slice(&t.as_bytes()[..n]);
            assert_eq!(word_mask(&block), word_mask_plain(&block), "{t:?}");
        }
    }

    /// The word-byte table is `is_word`.
    #[test]
    fn word_table_agrees_with_is_word() {
        for c in 0..=255u8 {
            assert_eq!(WORD[usize::from(c)], is_word(c), "{c}");
        }
    }

    #[test]
    fn lexicon_is_big_but_bounded() {
        let lex = Lexicon::new().expect("lexicon builds");
        assert!(lex.len() > 1000 && lex.len() < 100_000, "{}", lex.len());
    }
}
