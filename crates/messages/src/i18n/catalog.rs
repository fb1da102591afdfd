//! Every string of the messages, in French, English, German and Italian (in that order).
//! Placeholders are `{name}`. Keep keys sorted by area. Subjects and SMS texts carry no health
//! data: no motive, no practitioner, no patient name.

#[rustfmt::skip]
pub const ENTRIES: &[(&str, [&str; 4])] = &[
    ("weekday.1", ["lundi", "Monday", "Montag", "lunedì"]),
    ("weekday.2", ["mardi", "Tuesday", "Dienstag", "martedì"]),
    ("weekday.3", ["mercredi", "Wednesday", "Mittwoch", "mercoledì"]),
    ("weekday.4", ["jeudi", "Thursday", "Donnerstag", "giovedì"]),
    ("weekday.5", ["vendredi", "Friday", "Freitag", "venerdì"]),
    ("weekday.6", ["samedi", "Saturday", "Samstag", "sabato"]),
    ("weekday.7", ["dimanche", "Sunday", "Sonntag", "domenica"]),

    ("month.1", ["janvier", "January", "Januar", "gennaio"]),
    ("month.2", ["février", "February", "Februar", "febbraio"]),
    ("month.3", ["mars", "March", "März", "marzo"]),
    ("month.4", ["avril", "April", "April", "aprile"]),
    ("month.5", ["mai", "May", "Mai", "maggio"]),
    ("month.6", ["juin", "June", "Juni", "giugno"]),
    ("month.7", ["juillet", "July", "Juli", "luglio"]),
    ("month.8", ["août", "August", "August", "agosto"]),
    ("month.9", ["septembre", "September", "September", "settembre"]),
    ("month.10", ["octobre", "October", "Oktober", "ottobre"]),
    ("month.11", ["novembre", "November", "November", "novembre"]),
    ("month.12", ["décembre", "December", "Dezember", "dicembre"]),

    ("common.greeting", ["Bonjour,", "Hello,", "Guten Tag,", "Buongiorno,"]),
    ("common.when", ["Date et heure", "When", "Wann", "Quando"]),
    ("common.with", ["Soignant", "With", "Bei", "Con"]),
    ("common.where", ["Lieu", "Where", "Wo", "Dove"]),
    ("common.motive", ["Motif", "Reason for visit", "Grund des Besuchs", "Motivo della visita"]),
    ("common.view", ["Voir le rendez-vous", "View the appointment", "Termin ansehen", "Vedi l’appuntamento"]),
    ("common.link_fallback", ["Si le bouton ne fonctionne pas, copiez ce lien dans votre navigateur :", "If the button does not work, copy this link into your browser:", "Falls die Schaltfläche nicht funktioniert, kopieren Sie diesen Link in Ihren Browser:", "Se il pulsante non funziona, copi questo link nel browser:"]),
    ("common.ics_hint", ["Le fichier joint ajoute le rendez-vous à votre agenda, avec un rappel.", "The attached file adds the appointment to your calendar, with a reminder.", "Mit der angehängten Datei können Sie den Termin samt Erinnerung in Ihren Kalender übernehmen.", "Il file allegato aggiunge l’appuntamento al Suo calendario, con un promemoria."]),
    ("common.ignore", ["Si vous n’êtes pas à l’origine de cette demande, ignorez ce message : rien ne changera.", "If you did not ask for this, ignore this message: nothing will change.", "Falls Sie dies nicht angefordert haben, ignorieren Sie diese Nachricht: Es ändert sich nichts.", "Se non ha fatto Lei questa richiesta, ignori questo messaggio: non cambierà nulla."]),
    ("common.signature", ["L’équipe careslot", "The careslot team", "Ihr careslot-Team", "Il team di careslot"]),
    ("common.essential", ["Vous recevez ce message parce qu’il concerne votre compte ou vos rendez-vous.", "You are receiving this message because it concerns your account or your appointments.", "Sie erhalten diese Nachricht, weil sie Ihr Konto oder Ihre Termine betrifft.", "Riceve questo messaggio perché riguarda il Suo account o i Suoi appuntamenti."]),
    ("common.unsubscribe", ["Ne plus recevoir de rappels", "Stop receiving reminders", "Keine Erinnerungen mehr erhalten", "Non ricevere più promemoria"]),

    ("booking.subject", ["Rendez-vous confirmé : {when}", "Appointment confirmed: {when}", "Termin bestätigt: {when}", "Appuntamento confermato: {when}"]),
    ("booking.intro", ["Votre rendez-vous est confirmé.", "Your appointment is confirmed.", "Ihr Termin ist bestätigt.", "Il Suo appuntamento è confermato."]),
    ("booking.sms", ["careslot : rendez-vous confirmé le {when}. Détails : {link}", "careslot: appointment confirmed on {when}. Details: {link}", "careslot: Termin bestätigt am {when}. Details: {link}", "careslot: appuntamento confermato il {when}. Dettagli: {link}"]),

    ("cancel_practice.subject", ["Rendez-vous annulé : {when}", "Appointment cancelled: {when}", "Termin abgesagt: {when}", "Appuntamento annullato: {when}"]),
    ("cancel_practice.intro", ["Le cabinet a dû annuler votre rendez-vous. Nous vous prions de nous en excuser ; vous pouvez réserver un autre horaire en ligne.", "The practice had to cancel your appointment. We apologise; you can book another time online.", "Die Praxis musste Ihren Termin absagen. Wir bitten um Entschuldigung; Sie können online einen anderen Termin buchen.", "Lo studio ha dovuto annullare il Suo appuntamento. Ci scusiamo; può prenotare un altro orario online."]),
    ("cancel_practice.sms", ["careslot : le cabinet a annulé votre rendez-vous du {when}. Détails : {link}", "careslot: the practice cancelled your appointment on {when}. Details: {link}", "careslot: Die Praxis hat Ihren Termin am {when} abgesagt. Details: {link}", "careslot: lo studio ha annullato il Suo appuntamento del {when}. Dettagli: {link}"]),

    ("cancel_patient.subject", ["Rendez-vous annulé par le patient : {when}", "Appointment cancelled by the patient: {when}", "Termin vom Patienten abgesagt: {when}", "Appuntamento annullato dal paziente: {when}"]),
    ("cancel_patient.intro", ["{patient} a annulé son rendez-vous. L’horaire est de nouveau libre.", "{patient} cancelled their appointment. The time is free again.", "{patient} hat den Termin abgesagt. Die Uhrzeit ist wieder frei.", "{patient} ha annullato l’appuntamento. L’orario è di nuovo libero."]),
    ("cancel_patient.sms", ["careslot : un rendez-vous du {when} a été annulé par le patient. Détails : {link}", "careslot: an appointment on {when} was cancelled by the patient. Details: {link}", "careslot: Ein Termin am {when} wurde vom Patienten abgesagt. Details: {link}", "careslot: un appuntamento del {when} è stato annullato dal paziente. Dettagli: {link}"]),

    ("moved.subject", ["Rendez-vous déplacé : {when}", "Appointment moved: {when}", "Termin verschoben: {when}", "Appuntamento spostato: {when}"]),
    ("moved.intro", ["Votre rendez-vous du {previous} a été déplacé. Voici le nouvel horaire.", "Your appointment of {previous} has been moved. Here is the new time.", "Ihr Termin am {previous} wurde verschoben. Hier ist die neue Uhrzeit.", "Il Suo appuntamento del {previous} è stato spostato. Ecco il nuovo orario."]),
    ("moved.sms", ["careslot : votre rendez-vous est déplacé au {when}. Détails : {link}", "careslot: your appointment has been moved to {when}. Details: {link}", "careslot: Ihr Termin wurde auf {when} verschoben. Details: {link}", "careslot: il Suo appuntamento è stato spostato al {when}. Dettagli: {link}"]),

    ("reminder.subject", ["Rappel : rendez-vous le {when}", "Reminder: appointment on {when}", "Erinnerung: Termin am {when}", "Promemoria: appuntamento il {when}"]),
    ("reminder.intro", ["Nous vous rappelons votre prochain rendez-vous. En cas d’empêchement, merci de l’annuler en ligne pour libérer l’horaire.", "This is a reminder of your upcoming appointment. If you cannot come, please cancel online so that someone else can have the time.", "Wir erinnern Sie an Ihren nächsten Termin. Falls Sie verhindert sind, sagen Sie ihn bitte online ab, damit jemand anderes ihn nutzen kann.", "Le ricordiamo il Suo prossimo appuntamento. Se non può venire, lo annulli online per liberare l’orario."]),
    ("reminder.sms", ["careslot : rappel de votre rendez-vous le {when}. Détails ou annulation : {link}", "careslot: reminder of your appointment on {when}. Details or cancel: {link}", "careslot: Erinnerung an Ihren Termin am {when}. Details oder Absage: {link}", "careslot: promemoria del Suo appuntamento il {when}. Dettagli o annullamento: {link}"]),

    ("password_reset.subject", ["Réinitialisation de votre mot de passe", "Reset your password", "Passwort zurücksetzen", "Reimpostazione della password"]),
    ("password_reset.intro", ["Vous avez demandé à changer votre mot de passe. Ce lien est valable {minutes} minutes et ne sert qu’une fois.", "You asked to change your password. This link is valid for {minutes} minutes and works only once.", "Sie möchten Ihr Passwort ändern. Dieser Link ist {minutes} Minuten gültig und funktioniert nur einmal.", "Ha chiesto di cambiare la password. Questo link è valido per {minutes} minuti e funziona una sola volta."]),
    ("password_reset.action", ["Choisir un nouveau mot de passe", "Choose a new password", "Neues Passwort festlegen", "Scegli una nuova password"]),

    ("email_verification.subject", ["Confirmez votre adresse e-mail", "Confirm your email address", "Bestätigen Sie Ihre E-Mail-Adresse", "Confermi il Suo indirizzo email"]),
    ("email_verification.intro", ["Bienvenue sur careslot. Pour activer votre compte, confirmez que cette adresse est bien la vôtre.", "Welcome to careslot. To activate your account, please confirm that this address is yours.", "Willkommen bei careslot. Um Ihr Konto zu aktivieren, bestätigen Sie bitte, dass diese Adresse Ihnen gehört.", "Benvenuto su careslot. Per attivare l’account, confermi che questo indirizzo è il Suo."]),
    ("email_verification.action", ["Confirmer mon adresse", "Confirm my address", "Adresse bestätigen", "Conferma il mio indirizzo"]),

    ("account_exists.subject", ["Vous avez déjà un compte careslot", "You already have a careslot account", "Sie haben bereits ein careslot-Konto", "Ha già un account careslot"]),
    ("account_exists.intro", ["Quelqu’un (peut-être vous) a essayé de créer un compte avec cette adresse, qui en a déjà un. Connectez-vous, ou choisissez un nouveau mot de passe si vous l’avez oublié.", "Someone (perhaps you) tried to create an account with this address, which already has one. Sign in, or choose a new password if you have forgotten it.", "Jemand (vielleicht Sie) wollte mit dieser Adresse ein Konto erstellen, doch es gibt bereits eines. Melden Sie sich an oder legen Sie ein neues Passwort fest, falls Sie es vergessen haben.", "Qualcuno (forse Lei) ha provato a creare un account con questo indirizzo, che ne ha già uno. Acceda, oppure scelga una nuova password se l’ha dimenticata."]),
    ("account_exists.action", ["Se connecter", "Sign in", "Anmelden", "Accedi"]),
    ("account_exists.forgot", ["Mot de passe oublié :", "Forgot your password:", "Passwort vergessen:", "Password dimenticata:"]),

    ("invitation.subject", ["{practice} vous invite sur careslot", "{practice} invites you to careslot", "{practice} lädt Sie zu careslot ein", "{practice} La invita su careslot"]),
    ("invitation.intro", ["{inviter} vous invite à rejoindre l’équipe de {practice} sur careslot pour gérer les rendez-vous. L’invitation est valable {days} jours.", "{inviter} invites you to join the {practice} team on careslot to manage appointments. The invitation is valid for {days} days.", "{inviter} lädt Sie ein, dem Team von {practice} auf careslot beizutreten und die Termine zu verwalten. Die Einladung ist {days} Tage gültig.", "{inviter} La invita a unirsi al team di {practice} su careslot per gestire gli appuntamenti. L’invito è valido {days} giorni."]),
    ("invitation.action", ["Accepter l’invitation", "Accept the invitation", "Einladung annehmen", "Accetta l’invito"]),
    ("operator_invitation.subject", ["Votre compte d’opérateur careslot", "Your careslot operator account", "Ihr careslot-Betreiberkonto", "Il Suo account operatore careslot"]),
    ("operator_invitation.intro", ["Un compte d’opérateur de la plateforme careslot a été créé pour vous. Choisissez son mot de passe avec ce lien, valable {days} jours et qui ne sert qu’une fois.", "A careslot platform operator account was created for you. Choose its password with this link, valid for {days} days and usable only once.", "Für Sie wurde ein Betreiberkonto der Plattform careslot angelegt. Legen Sie sein Passwort über diesen Link fest; er ist {days} Tage gültig und funktioniert nur einmal.", "È stato creato per Lei un account operatore della piattaforma careslot. Scelga la password con questo link, valido {days} giorni e utilizzabile una sola volta."]),
    ("operator_invitation.action", ["Choisir mon mot de passe", "Choose my password", "Mein Passwort festlegen", "Scegli la mia password"]),
    ("operator_invitation.mfa", ["À la première connexion, configurez la double authentification (application d’authentification) : la console d’opérateur l’exige.", "At your first sign-in, set up two-factor authentication (an authenticator app): the operator console requires it.", "Richten Sie bei der ersten Anmeldung die Zwei-Faktor-Authentifizierung ein (Authenticator-App): Die Betreiberkonsole verlangt sie.", "Al primo accesso, configuri l’autenticazione a due fattori (un’app di autenticazione): la console operatore la richiede."]),

    // Account messages, part A of issue 14 (email change, security notices, SMS code).
    ("email_change.subject", ["Confirmez votre nouvelle adresse e-mail", "Confirm your new email address", "Bestätigen Sie Ihre neue E-Mail-Adresse", "Confermi il Suo nuovo indirizzo email"]),
    ("email_change.intro", ["Vous avez demandé à utiliser cette adresse pour votre compte careslot. Elle ne remplacera l’ancienne qu’une fois ce lien suivi ; il est valable 24 heures et ne sert qu’une fois.", "You asked to use this address for your careslot account. It replaces the old one only once you follow this link; it is valid for 24 hours and works only once.", "Sie möchten diese Adresse für Ihr careslot-Konto verwenden. Sie ersetzt die alte erst, wenn Sie diesem Link folgen; er ist 24 Stunden gültig und funktioniert nur einmal.", "Ha chiesto di usare questo indirizzo per il Suo account careslot. Sostituirà il precedente solo dopo aver seguito questo link, valido 24 ore e utilizzabile una sola volta."]),
    ("email_change.action", ["Confirmer la nouvelle adresse", "Confirm the new address", "Neue Adresse bestätigen", "Conferma il nuovo indirizzo"]),
    ("email_changed.subject", ["L’adresse e-mail de votre compte a changé", "Your account’s email address was changed", "Die E-Mail-Adresse Ihres Kontos wurde geändert", "L’indirizzo email del Suo account è cambiato"]),
    ("email_changed.intro", ["L’adresse e-mail de votre compte careslot vient d’être remplacée ; les messages iront désormais à la nouvelle adresse. Si ce n’est pas vous, choisissez un nouveau mot de passe et contactez-nous.", "The email address of your careslot account was just replaced; messages now go to the new address. If this was not you, choose a new password and contact us.", "Die E-Mail-Adresse Ihres careslot-Kontos wurde soeben ersetzt; Nachrichten gehen nun an die neue Adresse. Falls Sie das nicht waren, legen Sie ein neues Passwort fest und kontaktieren Sie uns.", "L’indirizzo email del Suo account careslot è stato appena sostituito; i messaggi andranno ora al nuovo indirizzo. Se non è stato Lei, scelga una nuova password e ci contatti."]),
    ("password_changed.subject", ["Votre mot de passe a été changé", "Your password was changed", "Ihr Passwort wurde geändert", "La Sua password è stata cambiata"]),
    ("password_changed.intro", ["Le mot de passe de votre compte careslot vient d’être changé, et vos autres sessions ont été fermées. Si ce n’est pas vous, choisissez un nouveau mot de passe sans attendre.", "The password of your careslot account was just changed, and your other sessions were signed out. If this was not you, choose a new password right away.", "Das Passwort Ihres careslot-Kontos wurde soeben geändert, Ihre anderen Sitzungen wurden beendet. Falls Sie das nicht waren, legen Sie sofort ein neues Passwort fest.", "La password del Suo account careslot è stata appena cambiata e le altre sessioni sono state chiuse. Se non è stato Lei, scelga subito una nuova password."]),
    ("security.reset_action", ["Choisir un nouveau mot de passe", "Choose a new password", "Neues Passwort festlegen", "Scegli una nuova password"]),
    ("phone_code.sms", ["careslot : votre code de vérification est {code}. Il est valable {minutes} minutes. Ne le communiquez à personne.", "careslot: your verification code is {code}. It is valid for {minutes} minutes. Do not share it.", "careslot: Ihr Bestätigungscode lautet {code}. Er ist {minutes} Minuten gültig. Geben Sie ihn nicht weiter.", "careslot: il Suo codice di verifica è {code}. È valido {minutes} minuti. Non lo comunichi a nessuno."]),

    ("ics.summary", ["Rendez-vous avec {practitioner}", "Appointment with {practitioner}", "Termin bei {practitioner}", "Appuntamento con {practitioner}"]),
    ("ics.alarm", ["Rappel : rendez-vous avec {practitioner}", "Reminder: appointment with {practitioner}", "Erinnerung: Termin bei {practitioner}", "Promemoria: appuntamento con {practitioner}"]),

    // --- issue 14 part B: earlier-slot offers ---
    ("slot_offer.subject", ["Une place plus tôt s’est libérée : {when}", "An earlier place opened: {when}", "Ein früherer Termin ist frei geworden: {when}", "Si è liberato un posto prima: {when}"]),
    ("slot_offer.intro", ["Une place plus tôt s’est libérée chez le praticien que vous suivez. Nous la gardons pour vous pendant {minutes} minutes : confirmez-la pour la réserver.", "An earlier place opened with the practitioner you follow. We keep it for you for {minutes} minutes: confirm it to book it.", "Bei der Praxis, der Sie folgen, ist ein früherer Termin frei geworden. Wir halten ihn {minutes} Minuten für Sie frei: Bestätigen Sie ihn, um ihn zu buchen.", "Si è liberato un posto prima presso il medico che segue. Lo teniamo per Lei per {minutes} minuti: lo confermi per prenotarlo."]),
    ("slot_offer.action", ["Confirmer cette place", "Confirm this place", "Diesen Termin bestätigen", "Conferma questo posto"]),
    ("slot_offer.ignore", ["Sans confirmation, la place est proposée à la personne suivante ; votre alerte reste active.", "Without confirmation, the place goes to the next person; your alert stays active.", "Ohne Bestätigung geht der Termin an die nächste Person; Ihre Benachrichtigung bleibt aktiv.", "Senza conferma, il posto va alla persona successiva; il Suo avviso resta attivo."]),
    ("slot_offer.sms", ["careslot : une place plus tôt s’est libérée le {when}, gardée pour vous quelques minutes. Confirmer : {link}", "careslot: an earlier place opened on {when}, kept for you a few minutes. Confirm: {link}", "careslot: Ein früherer Termin am {when} ist frei und kurz für Sie reserviert. Bestätigen: {link}", "careslot: si è liberato un posto prima il {when}, tenuto per Lei qualche minuto. Conferma: {link}"]),
    // --- issue 14, part C: a message for every event (no health data in subjects or SMS) ---
    ("no_show.subject", ["Votre rendez-vous du {when}", "Your appointment on {when}", "Ihr Termin am {when}", "Il Suo appuntamento del {when}"]),
    ("no_show.intro", ["Le cabinet a noté que vous n’avez pas pu venir à votre rendez-vous. Si besoin, vous pouvez réserver un autre horaire en ligne.", "The practice noted that you could not come to your appointment. If needed, you can book another time online.", "Die Praxis hat vermerkt, dass Sie Ihren Termin nicht wahrnehmen konnten. Bei Bedarf können Sie online einen anderen Termin buchen.", "Lo studio ha registrato che non ha potuto venire all’appuntamento. Se necessario, può prenotare un altro orario online."]),
    ("no_show.sms", ["careslot : votre rendez-vous du {when} est noté comme manqué. Détails : {link}", "careslot: your appointment on {when} is recorded as missed. Details: {link}", "careslot: Ihr Termin am {when} ist als versäumt vermerkt. Details: {link}", "careslot: il Suo appuntamento del {when} risulta mancato. Dettagli: {link}"]),
    ("prescription.subject", ["Un nouvel élément est disponible dans votre espace", "Something new is available in your account", "Neues in Ihrem Konto verfügbar", "Un nuovo elemento è disponibile nel Suo spazio"]),
    ("prescription.intro", ["Une ordonnance est disponible pour votre rendez-vous. Connectez-vous pour la consulter.", "A prescription is available for your appointment. Sign in to see it.", "Für Ihren Termin ist ein Rezept verfügbar. Melden Sie sich an, um es anzusehen.", "Per il Suo appuntamento è disponibile una ricetta. Acceda per consultarla."]),
    ("prescription.sms", ["careslot : un nouvel élément est disponible pour votre rendez-vous du {when} : {link}", "careslot: something new is available for your appointment on {when}: {link}", "careslot: Neues zu Ihrem Termin am {when}: {link}", "careslot: un nuovo elemento per il Suo appuntamento del {when}: {link}"]),
    ("document.subject", ["Un nouvel élément est disponible dans votre espace", "Something new is available in your account", "Neues in Ihrem Konto verfügbar", "Un nuovo elemento è disponibile nel Suo spazio"]),
    ("document.intro", ["Un document a été ajouté au rendez-vous. Connectez-vous pour le consulter.", "A document was added to the appointment. Sign in to see it.", "Zum Termin wurde ein Dokument hinzugefügt. Melden Sie sich an, um es anzusehen.", "È stato aggiunto un documento all’appuntamento. Acceda per consultarlo."]),
    ("document.sms", ["careslot : un nouvel élément est disponible pour le rendez-vous du {when} : {link}", "careslot: something new is available for the appointment on {when}: {link}", "careslot: Neues zum Termin am {when}: {link}", "careslot: un nuovo elemento per l’appuntamento del {when}: {link}"]),
    ("document.action", ["Voir les documents", "See the documents", "Dokumente ansehen", "Vedi i documenti"]),
    ("video.subject", ["Votre rendez-vous vidéo commence : {when}", "Your video appointment is starting: {when}", "Ihr Videotermin beginnt: {when}", "Il Suo appuntamento video sta per iniziare: {when}"]),
    ("video.intro", ["La salle de votre rendez-vous vidéo est ouverte. Rejoignez-la depuis ce lien.", "The room of your video appointment is open. Join it from this link.", "Der Raum Ihres Videotermins ist geöffnet. Treten Sie über diesen Link bei.", "La stanza del Suo appuntamento video è aperta. Entri da questo link."]),
    ("video.sms", ["careslot : votre rendez-vous vidéo du {when} commence : {link}", "careslot: your video appointment on {when} is starting: {link}", "careslot: Ihr Videotermin am {when} beginnt: {link}", "careslot: il Suo appuntamento video del {when} sta iniziando: {link}"]),
    ("video.action", ["Rejoindre la vidéo", "Join the video", "Dem Video beitreten", "Entra nel video"]),
    ("series.subject", ["Deux rendez-vous confirmés, à partir du {when}", "Two appointments confirmed, from {when}", "Zwei Termine bestätigt, ab {when}", "Due appuntamenti confermati, dal {when}"]),
    ("series.intro", ["Vos deux rendez-vous sont confirmés. Un rappel vous sera envoyé avant chacun d’eux.", "Both of your appointments are confirmed. You will get a reminder before each of them.", "Ihre beiden Termine sind bestätigt. Vor jedem erhalten Sie eine Erinnerung.", "Entrambi i Suoi appuntamenti sono confermati. Riceverà un promemoria prima di ciascuno."]),
    ("series.sms", ["careslot : deux rendez-vous confirmés, le premier le {when}. Détails : {link}", "careslot: two appointments confirmed, the first on {when}. Details: {link}", "careslot: zwei Termine bestätigt, der erste am {when}. Details: {link}", "careslot: due appuntamenti confermati, il primo il {when}. Dettagli: {link}"]),
    ("series.dose1", ["1er rendez-vous", "First appointment", "Erster Termin", "Primo appuntamento"]),
    ("series.dose2", ["2e rendez-vous", "Second appointment", "Zweiter Termin", "Secondo appuntamento"]),
];
