"""Per-language word lists for the eight supported languages besides English (English uses VADER and the signals in
`sentiment.py`): severity signals and a small sentiment lexicon each.

Written as a customer would say it, not word for word from English: e.g. German 'Kündigung', Swedish 'säga upp',
Polish 'rezygnuję', Dutch 'opzeggen'. Matching is on casefolded, accent-folded tokens (see `text.fold`), so
'résilié' and 'resilie' are the same; a word ending in '*' matches every word it starts (stems: 'kündig*' covers
kündige, kündigen, Kündigung). A phrase is whole words in order; only its last word may be a stem.

Words that mean something else in the language are left out on purpose: Swedish 'stämmer' ('is right') is not
'stämma' ('to sue'), German 'Anzeige' is also an advert and 'klagen' also 'to complain', Dutch 'zat' is also
'sat', Spanish 'juicio' is also 'opinion', Portuguese 'denúncia do contrato' is a notice to end a contract.
"""

from __future__ import annotations

# signal -> phrases, per language. Signals: legal (lawyers, courts, regulators, ombudsmen, data protection), safety,
# leave (a threat to leave), anger.
SIGNALS_BY_LANGUAGE: dict[str, dict[str, str]] = {
    "fr": {
        "legal": "avocat* | porter plainte | déposer plainte | dépôt de plainte | portée plainte | tribunal* | en justice"
        " | saisir la justice | procès | poursuites judiciaires | action en justice | huissier* | mise en demeure"
        " | médiateur* | médiation | dgccrf | cnil | arcep | amf | acpr | que choisir | ufc | association de consommateurs"
        " | rgpd | action de groupe | action collective | juridique* | judiciaire*",
        "safety": "incendie* | prendre feu | pris feu | a pris feu | fumée* | étincelle* | odeur de gaz | fuite de gaz"
        " | odeur de brûlé | ça sent le brûlé | électrocut* | décharge électrique | blessé* | blessure* | dangereu*"
        " | explos* | monoxyde de carbone | brûlure* | brûlé",
        "leave": "résili* | je pars | je vais partir | je m'en vais | changer d'opérateur | changer de fournisseur"
        " | changer de banque | changer d'assureur | je change d'opérateur | passer à la concurrence | chez la concurrence"
        " | à la concurrence | fermer mon compte | clôturer mon compte | clôture de mon compte | plus jamais"
        " | désabonn* | je vous quitte | vous quitter | annuler mon abonnement | un client de perdu | client perdu",
        "anger": "scandal* | honte | honteu* | inadmissible | inacceptable | ras le bol | marre | furieu* | en colère"
        " | colère | énervé* | exaspér* | lamentable | une blague | foutage de gueule | n'importe quoi | indigne"
        " | insupportable | révolt* | arnaque* | escroc* | voleurs",
    },
    "de": {
        "legal": "anwalt | anwälte | anwältin | anwalts* | rechtsanwalt* | klage | verklag* | vor gericht | gerichtlich* | amtsgericht | gerichtsverfahren"
        " | rechtliche schritte | juristisch* | verbraucherzentrale* | schlichtungsstelle* | schlichtung | ombudsmann"
        " | ombudsstelle | bundesnetzagentur | bafin | datenschutzbehörde | datenschutzbeauftragte* | dsgvo"
        " | anzeige erstatten | strafanzeige | sammelklage | abmahnung",
        "safety": "brand | brandgefahr | feuer | rauch | qualm* | gasgeruch | riecht nach gas | nach gas | gasleck"
        " | funken | stromschlag | elektrischen schlag | verletz* | gefährlich* | explodiert | explosion | kohlenmonoxid"
        " | verbrannt | brandgeruch | verschmort | kokelt | brandblase*",
        "leave": "kündig* | sonderkündig* | ich wechsle | wechsle zu | wechsle den | zur konkurrenz | anbieter wechseln"
        " | anbieterwechsel | konto auflösen | konto schließen | konto kündigen | nie wieder | nie mehr | ich bin weg"
        " | verlasse euch | verlasse sie | ehemaliger kunde",
        "anger": "unverschämt* | frechheit | skandal* | zumutung | inakzeptabel | wütend | stinksauer | sauer"
        " | verarsch* | katastroph* | empört | die nase voll | unfassbar | lächerlich | sauerei | abzocke | abzock*"
        " | betrug | betrüger* | reicht mir | reicht jetzt | ärgerlich",
    },
    "es": {
        "legal": "abogado* | abogada* | demandar* | demandaré | denunci* | tribunal* | juzgado* | acciones legales"
        " | acción legal | vía judicial | judicial* | omic | facua | ocu | defensor del cliente"
        " | defensor del pueblo | banco de españa | cnmc | protección de datos | aepd | rgpd | hoja de reclamaciones"
        " | oficina del consumidor | oficina de consumo | demanda colectiva",
        "safety": "incendio* | fuego | humo | chispa* | olor a gas | fuga de gas | huele a gas | olor a quemado"
        " | huele a quemado | electrocut* | descarga eléctrica | calambre | herido* | herida* | lesion* | peligros*"
        " | explot* | explosión | monóxido de carbono | quemadura* | se quemó | se incendió",
        "leave": "dar de baja | darme de baja | me doy de baja | la baja | me voy | me cambio | cambiarme de"
        " | cambiar de compañía | cambiar de banco | cambiar de operador | a la competencia | cancelar mi | cancelo"
        " | cerrar mi cuenta | cierro mi cuenta | nunca más | me paso a | os dejo | les dejo | me largo",
        "anger": "vergüenza | vergonzoso | indignante | indignad* | inaceptable | inadmisible | estafa* | estafador*"
        " | harto | harta | hartos | furios* | enfadad* | cabread* | lamentable | ridícul* | tomadura de pelo"
        " | un robo | una broma | ladrones | sinvergüenza* | impresentable*",
    },
    "it": {
        "legal": "avvocat* | vie legali | azioni legali | azione legale | mio legale | denunci* | querela* | tribunale"
        " | fare causa | faccio causa | farò causa | giudice | giudice di pace | agcom | arera | ivass | banca d'italia"
        " | garante | associazione consumatori | associazione dei consumatori | codacons | altroconsumo | class action"
        " | gdpr | diffida | conciliazione | corecom",
        "safety": "incendio | fuoco | fumo | scintill* | odore di gas | fuga di gas | puzza di gas | puzza di bruciato"
        " | odore di bruciato | fulminat* | scossa | scosse | ferit* | pericolos* | esplo* | monossido di carbonio"
        " | ustion* | preso fuoco | prende fuoco",
        "leave": "disdett* | disdir* | disdico | recedo | recesso | recedere | passo a | passare a | passo ad"
        " | cambio operatore | cambiare operatore | cambiare gestore | cambio gestore | cambiare fornitore"
        " | cambiare banca | chiudere il conto | chiudo il conto | chiudere il mio conto | mai più | vi lascio"
        " | me ne vado | alla concorrenza | annullare l'abbonamento | ex cliente",
        "anger": "vergogna | vergognos* | vergognatevi | inaccettabile | inammissibile | scandal* | ridicol*"
        " | presa in giro | prendete in giro | furios* | arrabbiat* | incazzat* | stufo | stufa | stufi | assurd*"
        " | truffa* | truffator* | ladri | indecente | schifo | vergognoso",
    },
    "nl": {
        "legal": "advocaat | advocaten | rechter | rechtszaak | rechtbank | juridische stappen | juridisch* | aanklag*"
        " | aangifte doen | aangifte | geschillencommissie | consumentenbond | kifid | acm | autoriteit persoonsgegevens"
        " | avg | ombudsman | ingebrekestelling | dagvaard* | kort geding | class action | incassobureau",
        "safety": "brand | brandgevaar | vuur | rook | vonk* | gaslucht | gaslek | ruik gas | stroomschok"
        " | elektrische schok | schok gekregen | gewond | verwond* | letsel | gevaarlijk* | ontplof* | explosie"
        " | koolmonoxide | verbrand* | schroeilucht | brandlucht | vlam gevat",
        "leave": "opzeg* | zeg op | zeg ik op | stap over | stappen over | overstap* | ik vertrek | vertrek naar"
        " | ik ga weg | naar de concurrent | naar een andere | rekening opheffen | account opheffen | opheffen"
        " | nooit meer | ik ben weg | beëindig* | klant af | ik ben klaar met",
        "anger": "schandalig | schande | belachelijk | onacceptabel | onaanvaardbaar | woedend | boos | kwaad"
        " | ben het zat | spuugzat | kotsbeu | beu | oplichting | oplicht* | een grap | van de zotte | bespottelijk"
        " | triest | diefstal | dieven | waardeloos | absurd",
    },
    "pt": {
        "legal": "advogad* | processar | processo judicial | ação judicial | acção judicial | tribunal | justiça"
        " | procon | reclame aqui | livro de reclamações | deco | anacom | erse | banco de portugal | anatel | aneel"
        " | juizado | pequenas causas | lgpd | rgpd | proteção de dados | denunciar | denunciei | queixa crime | ação coletiva"
        " | medidas legais | vias legais | jurídic*",
        "safety": "incêndio | fogo | fumo | fumaça | faísca* | cheiro a gás | cheiro de gás | fuga de gás"
        " | vazamento de gás | cheiro a queimado | cheiro de queimado | choque elétrico | apanhei um choque"
        " | levei um choque | eletrocut* | ferid* | lesão | lesões | perigos* | explod* | explosão"
        " | monóxido de carbono | queimadura* | pegou fogo",
        "leave": "vou cancelar | cancelar o meu | cancelar a minha | cancelar tudo | rescindir | rescis* | mudar de"
        " | vou mudar | passar para a concorrência | concorrência | fechar a minha conta | fechar minha conta"
        " | encerrar a conta | encerrar a minha | encerrar minha | nunca mais | vou-me embora | vou embora"
        " | deixar de ser cliente | deixo de ser cliente",
        "anger": "vergonha | vergonhoso | inaceitável | inadmissível | absurdo | ridícul* | palhaçada | furios*"
        " | irritad* | farto | farta | fartos | revoltad* | uma piada | roubo | ladrões | falta de respeito"
        " | desrespeito | lamentável | burla | golpe | enganad*",
    },
    "pl": {
        "legal": "prawnik* | adwokat* | radca prawny | radcy prawnego | sąd | sądu | sądem | sądzie | sądowa"
        " | sądownie | pozew | pozwę | pozwać | pozwiemy | kroki prawne | kroków prawnych | drogę prawną"
        " | drodze sądowej | uokik | rzecznik* | knf | uke | ure | uodo | rodo | pozew zbiorowy | prokuratur*"
        " | urząd ochrony konkurencji",
        "safety": "pożar* | ogień | ognia | zapalił* | dym | dymi | iskrzy | iskry | iskra | zapach gazu | czuć gaz"
        " | wyciek gazu | ulatnia się gaz | swąd | spalenizn* | porażenie prądem | kopnął prąd | kopie prąd | poraził"
        " | obrażenia | obrażeń | ranny | ranna | niebezpieczn* | wybuch* | eksplod* | tlenek węgla | czad"
        " | oparzen* | poparzył*",
        "leave": "rezygn* | zrezygn* | wypowiadam | wypowiedzeni* | odchodzę | odejdę | przechodzę do | przejdę do"
        " | zmieniam operatora | zmieniam bank | zmieniam dostawcę | zmienię operatora | do konkurencji"
        " | zamykam konto | zamknąć konto | zamknięcie konta | nigdy więcej | zerwać umowę | rozwiązać umowę"
        " | rozwiązanie umowy | rozwiązuję umowę",
        "anger": "skandal* | żenad* | żenując* | wstyd* | nie do przyjęcia | niedopuszczaln* | oburz* | wściek*"
        " | mam dość | mam dosyć | kpina | kpin* | jakiś żart | złodziej* | oszust* | oszuk* | porażka | dramat"
        " | tragedia | masakra | skandaliczn* | bezczeln*",
    },
    "sv": {
        "legal": "advokat* | jurist* | stämma er | stämmer er | stämma företaget | stämning | domstol* | tingsrätt*"
        " | rättsliga åtgärder | juridiska åtgärder | arn | allmänna reklamationsnämnden | reklamationsnämnden"
        " | konsumentverket | konsumentombudsmannen | pts | finansinspektionen | energimarknadsinspektionen | imy"
        " | gdpr | dataskydd* | grupptalan | polisanmäl* | anmäla er | anmäler er | anmäla detta",
        "safety": "brand | brandrisk | eld | börjat brinna | brinn* | rök | rökutveckling | gnist* | gaslukt"
        " | luktar gas | gasläck* | fick en stöt | elektrisk stöt | fick ström | stötar | skadad* | farlig* | explod*"
        " | explosion | kolmonoxid | brännskad* | luktar bränt | brandlukt | brännskadad",
        "leave": "säga upp | säger upp | sagt upp | uppsägning* | byter till | byta till | byter operatör | byter bank"
        " | byter leverantör | byta bolag | till en konkurrent | till konkurrenten | avsluta mitt konto"
        " | avslutar mitt | stänga mitt konto | aldrig mer | lämnar er | jag lämnar | slutar vara kund | flyttar till",
        "anger": "skandal* | skamligt | skam | oacceptabel* | förbannad* | arg | rasande | vansinnig* | löjligt"
        " | ett skämt | bedrägeri | bedrag* | trött på | less på | upprörd* | uselt | patetiskt | horribelt"
        " | under all kritik | ursinnig*",
    },
}

# Sentiment: words and stems in four strengths (-3, -2, +2, +3), negations, intensifiers and the word for 'but'
# (what follows it weighs more, as in VADER). Complaint words ('panne', 'Störung', 'awaria') count as negative:
# in feedback they almost always are.
SENTIMENT_BY_LANGUAGE: dict[str, dict[str, str]] = {
    "fr": {
        "-3": "horrible | catastroph* | scandal* | honteu* | inadmissible | inacceptable | nul | nulle | lamentable"
        " | déplorable | pire | arnaque* | escroc* | honte | dégueulasse | insupportable | furieu* | exécrable",
        "-2": "fonctionne pas | marche pas | fonctionne plus | marche plus | problème* | panne* | bug* | bugué | plante | erreur* | retard* | mauvais* | déçu* | décevant*"
        " | mécontent* | plainte | jamais reçu | cher | chère | trop cher | lent* | inutile | compliqué* | difficile"
        " | galère | colère | énervé* | marre | perdu* | bloqué* | impossible | incompréhensible | injoignable"
        " | attente | facturé deux fois | malheureusement | dommage | triste | pénible | cassé*"
        " | abîmé* | endommagé* | défectueu* | annul* | refus* | manque | manquant*",
        "2": "bien | bon | bonne | content* | satisfait* | rapide* | efficace* | agréable* | sympa | facile* | simple"
        " | merci | remercie | aimable* | pratique | réactif* | réactive | clair* | top | ravi* | bravo | professionnel*"
        " | fiable | recommande | aime | apprécie",
        "3": "excellent* | parfait* | génial* | super | formidable* | impeccable* | merveilleu* | extraordinaire*"
        " | adore | au top",
        "negations": "ne | n' | pas | jamais | aucun | aucune | rien | sans | ni | personne",
        "boosters": "très | trop | vraiment | tellement | extrêmement | hyper | absolument | totalement | complètement"
        " | vachement",
        "but": "mais | cependant | pourtant | toutefois",
    },
    "de": {
        "-3": "katastroph* | skandal* | unverschämt* | frechheit | schrecklich* | furchtbar* | miserabel | unmöglich"
        " | inakzeptabel | betrug | betrüger* | abzock* | zumutung | grottig | mies | lächerlich | schlechteste*",
        "-2": "funktioniert nicht | geht nicht | klappt nicht | funktioniert nie | problem* | störung* | fehler* | defekt* | kaputt* | schlecht* | enttäusch* | ärger* | ärgerlich"
        " | verspät* | verzöger* | teuer* | langsam* | nutzlos | kompliziert* | schwierig* | umständlich*"
        " | wütend | sauer | leider | beschwerde* | falsch* | abgestürzt | stürzt | absturz | hängt | nervig"
        " | unzufrieden* | doppelt | zweimal belastet | doppelt belastet | storniert | abgelehnt | fehlt | fehlen | beschädigt*"
        " | warte | warten | wartezeit* | unfreundlich*",
        "2": "gut | gute | guter | gutes | zufrieden* | schnell* | freundlich* | hilfsbereit* | einfach* | danke"
        " | dankeschön | vielen dank | toll* | prima | angenehm* | unkompliziert* | klar | zuverlässig* | empfehle*"
        " | empfehlenswert | froh | gerne | kompetent* | lob",
        "3": "super | hervorragend* | ausgezeichnet* | perfekt* | wunderbar* | großartig* | fantastisch* | genial*"
        " | spitze | top | begeistert | klasse",
        "negations": "nicht | nie | niemals | kein | keine | keinen | keinem | keiner | nichts | ohne | weder",
        "boosters": "sehr | total | extrem | echt | wirklich | absolut | völlig | komplett | besonders | so | viel"
        " | ziemlich | äußerst",
        "but": "aber | jedoch | allerdings | trotzdem",
    },
    "es": {
        "-3": "horrible* | pésim* | fatal | vergonzoso | vergüenza | indignante | inaceptable | inadmisible | estafa*"
        " | desastre* | lamentable | asqueroso | nefast* | penoso | peor | ladrones | timo",
        "-2": "no funciona | no va | no sirve | problema* | avería* | fallo* | error* | retraso* | malo | mala | malos | malas | mal | decepcion*"
        " | decepcionad* | caro | cara | lento* | lenta | inútil | complicad* | difícil | harto | harta | enfadad*"
        " | queja* | roto | rota | dañado* | defectuos* | cobrado dos veces | nunca llegó"
        " | lamentablemente | desgraciadamente | esperando | espera | imposible | cancelad* | rechazad* | falta"
        " | bloquead* | perdid*",
        "2": "bien | bueno | buena | buen | contento* | contenta | satisfech* | rápido* | rápida | amable*"
        " | gracias | fácil | sencillo | útil | eficaz | eficiente* | agradable | recomiendo | encantad* | majo"
        " | resuelto | solucionado | profesional*",
        "3": "excelente* | perfect* | genial* | fantástic* | maravillos* | estupend* | increíble* | de diez"
        " | encanta | brutal",
        "negations": "no | nunca | jamás | ni | nada | nadie | ningún | ninguna | sin | tampoco",
        "boosters": "muy | mucho | muchísimo | demasiado | super | súper | totalmente | realmente | bastante"
        " | absolutamente | tan | extremadamente",
        "but": "pero | sin embargo | aunque",
    },
    "it": {
        "-3": "pessim* | orribil* | vergogn* | scandal* | inaccettabile | inammissibile | truffa* | schifo"
        " | disastro* | ridicol* | indecente | assurd* | incompetent* | ladri | peggio | peggiore | tremend*",
        "-2": "non funziona | non va | problema* | problemi | guasto* | guasti | errore* | ritard* | brutto | brutta | male | cattiv*"
        " | delus* | deludent* | caro | cara | cari | costoso | lento | lenta | inutile | complicat* | difficile"
        " | arrabbiat* | stufo | stufa | reclamo | rotto | rotta | danneggiat* | difettos* | addebitato due volte"
        " | mai arrivato | purtroppo | attesa | aspetto | impossibile | annullat* | rifiutat*"
        " | manca | mancante | bloccat* | perso | persa | insoddisfatt*",
        "2": "bene | buono | buona | buon | contento | contenta | soddisfatt* | veloce | rapido | rapida"
        " | gentil* | grazie | facile | semplice | utile | efficiente | comodo | comoda | consiglio | cordial*"
        " | disponibil* | risolto | professional* | chiaro | chiara",
        "3": "ottim* | eccellent* | perfett* | fantastic* | meraviglios* | splendid* | stupend* | top | super"
        " | bellissim* | bravissim*",
        "negations": "non | mai | nessuno | nessuna | niente | nulla | senza | né | neanche | nemmeno",
        "boosters": "molto | troppo | davvero | veramente | estremamente | assolutamente | proprio | così | tanto"
        " | totalmente",
        "but": "ma | però | tuttavia | eppure",
    },
    "nl": {
        "-3": "schandalig | belachelijk | waardeloos | vreselijk* | verschrikkelijk* | slechtste | onacceptabel"
        " | bagger | diefstal | oplichting | oplichters | rampzalig | triest | drama | bedroevend",
        "-2": "werkt niet | doet het niet | probleem | problemen | storing* | fout* | defect* | kapot* | slecht* | teleurgesteld* | teleurstellend*"
        " | vertraging* | te laat | duur | traag | trage | nutteloos | ingewikkeld* | moeilijk* | boos | kwaad"
        " | klacht* | beschadigd* | dubbel | helaas | wachten | wachttijd* | onmogelijk"
        " | geannuleerd | geweigerd | ontbreekt | vastgelopen | ontevreden | onvriendelijk* | irritant",
        "2": "goed | goede | tevreden* | snel* | vriendelijk* | behulpzaam* | makkelijk* | gemakkelijk* | simpel"
        " | bedankt | dank | dankjewel | fijn* | prettig* | duidelijk* | handig* | betrouwbaar* | aanrader"
        " | aanbevelen | blij | netjes | opgelost | correct",
        "3": "super | uitstekend* | perfect* | geweldig* | fantastisch* | top | prima | heerlijk | topservice"
        " | subliem",
        "negations": "niet | nooit | geen | niks | niets | niemand | zonder | noch",
        "boosters": "heel | erg | zeer | echt | totaal | ontzettend | enorm | extreem | zo | best",
        "but": "maar | echter | toch",
    },
    "pt": {
        "-3": "péssim* | horrível | horríveis | vergonha | vergonhoso | inaceitável | inadmissível | absurdo"
        " | ridícul* | palhaçada | burla | roubo | ladrões | desastre | lamentável | nojento | pior",
        "-2": "não funciona | não dá | problema* | avaria* | falha* | erro* | atraso* | atrasad* | mau | má | ruim | mal | decepcion*"
        " | desilud* | caro | lento | lenta | inútil | complicad* | difícil | farto | farta | irritad*"
        " | reclamação | partido | partida | danificad* | defeito* | cobrado duas vezes | cobraram duas vezes"
        " | nunca chegou | infelizmente | espera | esperar | impossível"
        " | cancelad* | recusad* | falta | bloquead* | perdid* | insatisfeit*",
        "2": "bem | bom | boa | bons | contente* | satisfeit* | rápido* | rápida | simpátic* | obrigad*"
        " | fácil | simples | útil | eficiente* | agradável | recomendo | resolvido | resolveu | profissional*"
        " | atencios* | prestável | gentil",
        "3": "excelente* | perfeit* | ótim* | óptim* | fantástic* | maravilhos* | incrível | espetacular"
        " | impecável | adorei | adoro | top",
        "negations": "não | nunca | jamais | nem | nada | ninguém | nenhum | nenhuma | sem",
        "boosters": "muito | muita | muitíssimo | demasiado | super | totalmente | realmente | bastante | tão"
        " | extremamente",
        "but": "mas | porém | contudo | todavia",
    },
    "pl": {
        "-3": "skandal* | żenad* | żenując* | tragedia | tragiczn* | fatalny | fatalna | fatalnie | beznadziej*"
        " | najgorsz* | masakra | kpina | oszust* | oszuk* | złodziej* | koszmar* | okropn* | dramat | porażka",
        "-2": "nie działa | nie działają | nie dało się | problem* | awari* | błąd | błędy | błędu | usterk* | opóźnieni* | spóźni* | zły | zła | złe | źle"
        " | słab* | rozczarowan* | drogo | drogi | droga | wolno | wolny | bezużyteczn* | skomplikowan* | trudn*"
        " | wściekł* | reklamacj* | zepsut* | uszkodzon* | wadliw* | dwa razy | podwójnie"
        " | niestety | czekam | czekać | czekania | niemożliwe | anulowan* | odrzucon* | brak* | zablokowan*"
        " | zgubi* | niezadowolon* | niemiły | niemiła | nieuprzejm*",
        "2": "dobrze | dobry | dobra | dobre | zadowolon* | szybk* | szybko | miły | miła | miło | uprzejm*"
        " | dziękuję | dzięki | dziekuje | łatwo | łatwy | prosty | prosto | pomocn* | polecam | sprawnie"
        " | sprawn* | rozwiązan* | profesjonaln* | przejrzyst*",
        "3": "świetn* | doskonał* | idealn* | rewelac* | wspaniał* | super | znakomit* | fantastyczn*"
        " | bezbłędn* | ekstra",
        "negations": "nie | nigdy | nic | nikt | żaden | żadna | żadne | bez | ani",
        "boosters": "bardzo | strasznie | naprawdę | totalnie | kompletnie | zupełnie | mega | ogromnie | tak"
        " | niesamowicie | wyjątkowo",
        "but": "ale | jednak | lecz | natomiast",
    },
    "sv": {
        "-3": "skandal* | skamligt | katastrof* | uselt | usel | värdelös* | horribelt | bedrägeri | bedrag*"
        " | patetiskt | vidrig* | sämsta | förbannad* | oacceptabel* | löjligt | hemsk* | fruktansvärd*",
        "-2": "fungerar inte | funkar inte | går inte | problem* | fel | felet | avbrott* | störning* | trasig* | dålig* | dåligt | besviken | besvikna"
        " | besvikelse | försen* | sen | sent | dyr | dyrt | långsam* | onödig* | krånglig* | svår* | svårt | arg"
        " | upprörd* | klagomål | reklamation | skadad* | dubbelt | tyvärr | väntat"
        " | väntetid* | omöjligt | avbokad | nekad* | saknas | fastnat | missnöjd* | otrevlig* | irriterande",
        "2": "bra | nöjd* | snabb* | trevlig* | hjälpsam* | enkel* | enkelt | lätt | smidig* | tack | tackar"
        " | tydlig* | pålitlig* | rekommenderar | glad | glada | löste | löst | proffsig* | vänlig* | skönt",
        "3": "utmärkt* | perfekt* | fantastisk* | underbar* | toppen | grym* | suverän* | superbra | jättebra"
        " | klockren* | strålande",
        "negations": "inte | ej | aldrig | ingen | inget | inga | utan | varken | icke",
        "boosters": "mycket | väldigt | jätte | riktigt | extremt | helt | verkligen | otroligt | så | totalt",
        "but": "men | dock | ändå",
    },
}


def split(phrases: str) -> list[str]:
    """'a | b c | d*' -> ['a', 'b c', 'd*']."""
    return [p.strip() for p in phrases.split("|") if p.strip()]
