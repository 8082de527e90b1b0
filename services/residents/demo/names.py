"""Name pools for synthetic residents: Faker ja_JP's pairs, widened with more common names.

Faker's ja_JP provider knows 50 family names and about 50 given names, each with its
katakana reading; a registry of a million people needs more variety than that for
name search to behave as it does on real data, so these lists add common names
with their usual readings. Foreign residents get names in Latin letters with a
katakana reading, as the register writes them.
"""

from __future__ import annotations

from faker import Faker

_EXTRA_FAMILY = """
石田 イシダ|上田 ウエダ|森田 モリタ|原田 ハラダ|柴田 シバタ|酒井 サカイ|工藤 クドウ|横山 ヨコヤマ|宮崎 ミヤザキ|宮本 ミヤモト
内田 ウチダ|高木 タカギ|安藤 アンドウ|谷口 タニグチ|大野 オオノ|丸山 マルヤマ|今井 イマイ|高田 タカダ|藤本 フジモト|武田 タケダ
村田 ムラタ|上野 ウエノ|杉山 スギヤマ|増田 マスダ|平野 ヒラノ|大塚 オオツカ|千葉 チバ|久保 クボ|松井 マツイ|小島 コジマ
岩崎 イワサキ|桜井 サクライ|野口 ノグチ|松尾 マツオ|野村 ノムラ|木下 キノシタ|菊地 キクチ|佐野 サノ|大西 オオニシ|杉本 スギモト
新井 アライ|浜田 ハマダ|菅原 スガワラ|市川 イチカワ|水野 ミズノ|小松 コマツ|島田 シマダ|古川 フルカワ|小山 コヤマ|高野 タカノ
西田 ニシダ|菊池 キクチ|山内 ヤマウチ|西川 ニシカワ|五十嵐 イガラシ|北村 キタムラ|安田 ヤスダ|中田 ナカタ|川口 カワグチ|平田 ヒラタ
川崎 カワサキ|飯田 イイダ|吉川 ヨシカワ|本田 ホンダ|久保田 クボタ|沢田 サワダ|辻 ツジ|関 セキ|吉村 ヨシムラ|渡部 ワタナベ
岩田 イワタ|中西 ナカニシ|服部 ハットリ|樋口 ヒグチ|福島 フクシマ|川上 カワカミ|永井 ナガイ|松岡 マツオカ|田口 タグチ|山中 ヤマナカ
森本 モリモト|土屋 ツチヤ|矢野 ヤノ|広瀬 ヒロセ|秋山 アキヤマ|石原 イシハラ|松下 マツシタ|大橋 オオハシ|松浦 マツウラ|吉岡 ヨシオカ
小池 コイケ|馬場 ババ|浅野 アサノ|荒木 アラキ|大久保 オオクボ|野田 ノダ|小沢 オザワ|田村 タムラ|熊谷 クマガイ|及川 オイカワ
髙橋 タカハシ|山﨑 ヤマザキ|齋藤 サイトウ|渡邊 ワタナベ|澤田 サワダ|佐久間 サクマ|早坂 ハヤサカ|遠藤 エンドウ|庄司 ショウジ|高井 タカイ
""".replace("\n", "|").split("|")

_EXTRA_FEMALE = """
陽菜 ヒナ|結菜 ユイナ|さくら サクラ|美咲 ミサキ|葵 アオイ|凛 リン|芽依 メイ|愛 アイ|美穂 ミホ|由美 ユミ
恵子 ケイコ|幸子 サチコ|和子 カズコ|洋子 ヨウコ|節子 セツコ|久美子 クミコ|智子 トモコ|裕子 ユウコ|真由美 マユミ|恵美 エミ
京子 キョウコ|文子 フミコ|順子 ジュンコ|美智子 ミチコ|弘子 ヒロコ|千尋 チヒロ|彩 アヤ|麻衣 マイ|優子 ユウコ|沙織 サオリ
愛子 アイコ|奈々 ナナ|莉子 リコ|紬 ツムギ|澪 ミオ|杏 アン|琴音 コトネ|ひまり ヒマリ|咲 サキ|静香 シズカ
""".replace("\n", "|").split("|")

_EXTRA_MALE = """
蓮 レン|陽翔 ハルト|湊 ミナト|大翔 ヒロト|悠真 ユウマ|樹 イツキ|大和 ヤマト|颯太 ソウタ|蒼 アオイ|悠人 ユウト
清 キヨシ|茂 シゲル|勇 イサム|博 ヒロシ|正 タダシ|進 ススム|誠 マコト|隆 タカシ|豊 ユタカ|勝 マサル
一郎 イチロウ|次郎 ジロウ|健太 ケンタ|大輔 ダイスケ|拓也 タクヤ|達也 タツヤ|雄一 ユウイチ|秀樹 ヒデキ|和夫 カズオ|正男 マサオ
修 オサム|浩二 コウジ|誠一 セイイチ|光男 ミツオ|義男 ヨシオ|哲也 テツヤ|慎吾 シンゴ|翔 ショウ|陸 リク|悠 ハルカ
""".replace("\n", "|").split("|")

#: (nationality, language, [(family, family reading)], [(given, given reading, sex)])
FOREIGN: tuple[tuple[str, str, list[tuple[str, str]], list[tuple[str, str, str]]], ...] = (
    (
        "ベトナム",
        "vi",
        [
            ("NGUYEN", "グエン"),
            ("TRAN", "チャン"),
            ("LE", "レ"),
            ("PHAM", "ファム"),
            ("HOANG", "ホアン"),
        ],
        [
            ("VAN AN", "ヴァン アン", "male"),
            ("THI LAN", "ティ ラン", "female"),
            ("DUC MINH", "ドゥック ミン", "male"),
            ("THI HOA", "ティ ホア", "female"),
        ],
    ),
    (
        "中国",
        "zh-Hans",
        [("王", "ワン"), ("李", "リー"), ("張", "チャン"), ("劉", "リュウ"), ("陳", "チェン")],
        [
            ("偉", "ウェイ", "male"),
            ("芳", "ファン", "female"),
            ("静", "ジン", "female"),
            ("強", "チャン", "male"),
        ],
    ),
    (
        "韓国",
        "ko",
        [("金", "キム"), ("李", "イ"), ("朴", "パク"), ("崔", "チェ")],
        [
            ("民俊", "ミンジュン", "male"),
            ("瑞妍", "ソヨン", "female"),
            ("智厚", "ジフ", "male"),
            ("秀珍", "スジン", "female"),
        ],
    ),
    (
        "フィリピン",
        "tl",
        [("SANTOS", "サントス"), ("REYES", "レイエス"), ("CRUZ", "クルス"), ("GARCIA", "ガルシア")],
        [
            ("MARIA", "マリア", "female"),
            ("JOSE", "ホセ", "male"),
            ("ANGELICA", "アンジェリカ", "female"),
            ("MARK", "マーク", "male"),
        ],
    ),
    (
        "ブラジル",
        "pt-BR",
        [
            ("SILVA", "シルバ"),
            ("SOUZA", "ソウザ"),
            ("OLIVEIRA", "オリベイラ"),
            ("PEREIRA", "ペレイラ"),
        ],
        [
            ("ANA", "アナ", "female"),
            ("LUCAS", "ルーカス", "male"),
            ("JULIANA", "ジュリアナ", "female"),
            ("RAFAEL", "ハファエル", "male"),
        ],
    ),
    (
        "ネパール",
        "ne",
        [("GURUNG", "グルン"), ("TAMANG", "タマン"), ("SHRESTHA", "シュレスタ"), ("RAI", "ライ")],
        [
            ("RAM", "ラム", "male"),
            ("SITA", "シタ", "female"),
            ("BIKASH", "ビカス", "male"),
            ("ANITA", "アニタ", "female"),
        ],
    ),
    (
        "アメリカ合衆国",
        "en",
        [
            ("SMITH", "スミス"),
            ("JOHNSON", "ジョンソン"),
            ("BROWN", "ブラウン"),
            ("MILLER", "ミラー"),
        ],
        [
            ("JOHN", "ジョン", "male"),
            ("EMILY", "エミリー", "female"),
            ("MICHAEL", "マイケル", "male"),
            ("SARAH", "サラ", "female"),
        ],
    ),
)


def _pairs(lines: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for line in lines:
        kanji, _, kana = line.strip().partition(" ")
        if kanji:
            pairs.append((kanji, kana))
    return pairs


def pools() -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(family, female given, male given) as (written, katakana reading), deduplicated."""
    person = Faker("ja_JP").provider("faker.providers.person")
    family = [(kanji, kana) for kanji, kana, _romaji in person.last_name_pairs]
    female = [(kanji, kana) for kanji, kana, _romaji in person.first_name_female_pairs]
    male = [(kanji, kana) for kanji, kana, _romaji in person.first_name_male_pairs]
    family += _pairs(_EXTRA_FAMILY)
    female += _pairs(_EXTRA_FEMALE)
    male += _pairs(_EXTRA_MALE)
    return (
        list(dict.fromkeys(family)),
        list(dict.fromkeys(female)),
        list(dict.fromkeys(male)),
    )


def towns() -> list[str]:
    address = Faker("ja_JP").provider("faker.providers.address")
    return list(dict.fromkeys(address.towns))


def buildings() -> list[str]:
    address = Faker("ja_JP").provider("faker.providers.address")
    return list(address.building_names)
