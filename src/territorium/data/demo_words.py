"""Word lists and the product catalogue of the demo company (see :mod:`territorium.data.demo`).

Plain data, no randomness: the generator draws from these with its own seeded Generator.
"""
from __future__ import annotations

FIRST_NAMES = (
    "Olivia", "Emma", "Ava", "Sophia", "Isabella", "Mia", "Charlotte", "Amelia", "Harper",
    "Evelyn", "Abigail", "Emily", "Ella", "Elizabeth", "Camila", "Luna", "Sofia", "Avery",
    "Mila", "Aria", "Scarlett", "Penelope", "Layla", "Chloe", "Victoria", "Madison", "Eleanor",
    "Grace", "Nora", "Riley", "Zoey", "Hannah", "Hazel", "Lily", "Ellie", "Violet", "Lillian",
    "Zoe", "Stella", "Aurora", "Natalie", "Emilia", "Everly", "Leah", "Aubrey", "Willow",
    "Addison", "Lucy", "Audrey", "Bella", "Nova", "Brooklyn", "Paisley", "Savannah", "Claire",
    "Skylar", "Isla", "Genesis", "Naomi", "Elena", "Caroline", "Eliana", "Anna", "Maya",
    "Valentina", "Ruby", "Kennedy", "Ivy", "Ariana", "Aaliyah", "Cora", "Madelyn", "Alice",
    "Kinsley", "Hailey", "Gabriella", "Allison", "Gianna", "Serenity", "Samantha", "Sarah",
    "Quinn", "Eva", "Piper", "Sophie", "Sadie", "Delilah", "Josephine", "Nevaeh", "Adeline",
    "Maria", "Rosa", "Guadalupe", "Priya", "Aisha", "Mei", "Yuki", "Fatima", "Keisha",
    "Tiffany", "Jessica", "Jennifer", "Ashley", "Amanda", "Stephanie", "Nicole", "Megan",
    "Rachel", "Lauren", "Danielle", "Michelle", "Kimberly", "Christina", "Laura", "Rebecca",
    "Liam", "Noah", "Oliver", "James", "Elijah", "William", "Henry", "Lucas", "Benjamin",
    "Theodore", "Mateo", "Levi", "Sebastian", "Daniel", "Jack", "Michael", "Alexander",
    "Owen", "Asher", "Samuel", "Ethan", "Leo", "Jackson", "Mason", "Ezra", "John", "Hudson",
    "Luca", "Aiden", "Joseph", "David", "Jacob", "Logan", "Luke", "Julian", "Gabriel",
    "Anthony", "Dylan", "Wyatt", "Carter", "Isaac", "Jayden", "Marcus", "Andre", "Raj",
    "Kevin", "Brian", "Jason", "Matthew", "Christopher", "Ryan", "Thomas", "Patrick", "Sean",
)

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster",
    "Jimenez", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler",
    "Henderson", "Barnes", "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan",
    "Patterson", "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno",
    "West", "Cole", "Hayes", "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar",
    "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez",
    "McDonald", "Woods", "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman",
    "Webb", "Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter",
    "Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Munoz", "Hunt", "Hicks",
    "Holmes", "Palmer", "Wagner", "Black", "Robertson", "Boyd", "Rose", "Stone", "Salazar",
    "Fox", "Warren", "Mills", "Meyer", "Rice", "Schmidt", "Garza", "Daniels", "Ferguson",
    "Nichols", "Stephens", "Soto", "Weaver", "Ryan", "Gardner", "Payne", "Grant", "Dunn",
    "Kowalski", "Nowak", "Russo", "Esposito", "Romano", "Colombo", "Ricci", "Marino", "Greco",
    "O'Brien", "O'Connor", "Byrne", "Walsh", "McCarthy", "Doyle", "Levine", "Cohen", "Goldberg",
    "Shapiro", "Friedman", "Katz", "Klein", "Weiss", "Park", "Choi", "Wong", "Liu", "Singh",
)

STREET_NAMES = (
    "Main", "Broadway", "Park", "Oak", "Maple", "Elm", "Washington", "Lake", "Hill", "Pine",
    "Cedar", "Church", "Chestnut", "Walnut", "Spruce", "High", "Union", "Market", "Water",
    "Mill", "Spring", "Franklin", "Madison", "Jefferson", "Lincoln", "Prospect", "Pleasant",
    "Center", "School", "River", "Court", "Highland", "Summit", "Ridge", "Forest", "Grove",
    "Liberty", "Bridge", "Academy", "Orchard", "Sunset", "Meadow", "Willow", "Cherry",
    "Hamilton", "Adams", "Jackson", "Monroe", "Front", "State", "Charles", "Federal",
    "Atlantic", "Harbor", "Commonwealth", "Beacon", "Lexington", "Columbus", "Amsterdam",
    "Lafayette", "Hudson", "Delaware", "Susquehanna", "Allegheny", "Penn", "Greenwich",
)
STREET_SUFFIXES = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Pl", "Way", "Ct", "Street", "Avenue", "Road")

#: Account name patterns by industry; {L} a last name, {F} a first name, {C} the city,
#: {W} a style word.
STYLE_WORDS = (
    "Belle", "Luxe", "Glow", "Bloom", "Velvet", "Silk", "Pearl", "Aura", "Radiance", "Serene",
    "Bliss", "Golden", "Ivory", "Rose", "Willow", "Jade", "Opal", "Sage", "Lotus", "Amber",
    "Chic", "Muse", "Allure", "Grace", "Haven", "Harmony", "Nova", "Petal", "Iris", "Coral",
)
NAME_PATTERNS: dict[str, tuple[str, ...]] = {
    "Salon": ("{W} Hair Studio", "{F}'s Salon", "Salon {W}", "{L} & Co. Salon", "The {W} Salon",
              "{C} Hair Lounge", "{W} Beauty Bar", "Studio {F}", "{F} {L} Hair Design"),
    "Spa": ("{W} Day Spa", "{C} Day Spa", "The {W} Spa", "{W} Wellness Spa", "{F}'s Skin & Spa",
            "{W} Retreat Spa"),
    "Boutique": ("{W} Boutique", "{F} & {W}", "The {W} Closet", "{C} Style House", "Maison {W}",
                 "{F}'s Boutique", "{W} Atelier", "{L} Mercantile"),
    "Pharmacy": ("{L} Pharmacy", "{C} Drug", "{L} Apothecary", "{C} Family Pharmacy",
                 "{L}'s Chemists", "{W} Wellness Pharmacy"),
    "Department Store": ("{L} & {L2}", "{L}'s", "{L} Brothers", "{C} Department Store",
                         "{L} & Sons", "The {L} Company"),
    "Medspa": ("{W} Medspa", "{C} Aesthetics", "{W} Skin Clinic", "{L} Dermatology & Medspa",
               "{W} Laser & Aesthetics"),
}

PERSONAL_EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com",
                          "aol.com", "comcast.net", "verizon.net", "me.com", "protonmail.com")
PERSONAL_EMAIL_WEIGHTS = (0.42, 0.14, 0.08, 0.08, 0.12, 0.05, 0.04, 0.03, 0.02, 0.02)

#: Area codes by state, for phone numbers.
AREA_CODES: dict[str, tuple[int, ...]] = {
    "NY": (212, 718, 917, 646, 347, 516, 631, 914, 845, 518, 315, 585, 716, 607),
    "NJ": (201, 973, 908, 732, 609, 856, 862, 551),
    "PA": (215, 267, 610, 484, 717, 412, 724, 814, 570),
    "CT": (203, 860, 475),
    "MA": (617, 857, 781, 508, 978, 413, 774, 339),
    "RI": (401,),
    "NH": (603,),
    "VT": (802,),
    "ME": (207,),
}

#: Combined state and average local sales tax used for DTC orders (simplified).
SALES_TAX: dict[str, float] = {
    "NY": 0.08, "NJ": 0.06625, "PA": 0.06, "CT": 0.0635, "MA": 0.0625, "RI": 0.07,
    "NH": 0.0, "VT": 0.06, "ME": 0.055,
}
#: States where apparel is not taxable.
APPAREL_EXEMPT = ("NJ", "PA")

PRODUCT_LINES = ("Skincare", "Haircare", "Fragrance", "Apparel")
LINE_CODES = ("SK", "HC", "FR", "AP")

#: (product, variants, price range) per product line; variants multiply the SKUs.
_CATALOGUE: dict[str, tuple[tuple[str, tuple[str, ...], float], ...]] = {
    "Skincare": (
        ("Radiance Vitamin C Serum", ("30 ml", "50 ml"), 58.0),
        ("Hydra-Silk Day Cream", ("50 ml",), 48.0),
        ("Midnight Renewal Night Cream", ("50 ml",), 64.0),
        ("Petal Soft Cleansing Balm", ("100 ml",), 34.0),
        ("Rose Quartz Toner", ("200 ml",), 28.0),
        ("Luminous Eye Contour", ("15 ml",), 44.0),
        ("Bakuchiol Retinol Alternative", ("30 ml",), 68.0),
        ("Mineral Sun Veil SPF 50", ("50 ml",), 36.0),
        ("Clay Detox Mask", ("75 ml",), 32.0),
        ("Hyaluronic Plumping Essence", ("100 ml", "200 ml"), 42.0),
        ("Barrier Repair Ceramide Cream", ("50 ml",), 52.0),
        ("Glow Peel Pads", ("30 pads", "60 pads"), 39.0),
        ("Lip Silk Treatment", ("Clear", "Rosé", "Berry"), 22.0),
        ("Body Velvet Lotion", ("250 ml",), 30.0),
        ("Prestige Skincare Set", ("Discovery", "Full Size"), 118.0),
        ("Facial Oil Elixir", ("30 ml",), 74.0),
        ("Gentle Exfoliating Polish", ("75 ml",), 29.0),
        ("Peptide Firming Serum", ("30 ml",), 82.0),
        ("Calm Skin Mist", ("100 ml",), 24.0),
        ("Hand Cream Trio", ("3 x 30 ml",), 26.0),
        ("Hydrogel Eye Patches", ("5 pairs", "30 pairs"), 24.0),
        ("Retinol Night Oil", ("30 ml",), 66.0),
        ("Brightening Body Scrub", ("200 ml",), 34.0),
        ("Vitamin Face Mist", ("50 ml", "100 ml"), 26.0),
    ),
    "Haircare": (
        ("Silk Repair Shampoo", ("250 ml", "1 L"), 24.0),
        ("Silk Repair Conditioner", ("250 ml", "1 L"), 26.0),
        ("Bond Builder Treatment", ("100 ml",), 38.0),
        ("Volume Lift Mousse", ("200 ml",), 22.0),
        ("Curl Define Cream", ("150 ml",), 24.0),
        ("Color Protect Shampoo", ("250 ml", "1 L"), 25.0),
        ("Argan Shine Oil", ("50 ml", "100 ml"), 32.0),
        ("Heat Shield Spray", ("150 ml",), 21.0),
        ("Dry Shampoo Mist", ("200 ml",), 19.0),
        ("Scalp Renew Serum", ("50 ml",), 42.0),
        ("Purple Toning Mask", ("200 ml",), 28.0),
        ("Texture Sea Salt Spray", ("150 ml",), 20.0),
        ("Flexible Hold Hairspray", ("300 ml",), 21.0),
        ("Overnight Hair Mask", ("200 ml",), 34.0),
        ("Boar Bristle Brush", ("Paddle", "Round"), 45.0),
        ("Silk Scrunchie Set", ("Neutrals", "Brights"), 18.0),
        ("Salon Care Kit", ("Fine Hair", "Thick Hair"), 64.0),
        ("Leave-In Conditioner", ("150 ml", "500 ml"), 23.0),
        ("Keratin Smoothing Balm", ("100 ml",), 30.0),
        ("Clarifying Shampoo", ("250 ml", "1 L"), 22.0),
    ),
    "Fragrance": (
        ("Lumière Eau de Parfum", ("30 ml", "50 ml", "100 ml"), 95.0),
        ("Nuit Blanche Eau de Parfum", ("30 ml", "50 ml", "100 ml"), 105.0),
        ("Jardin d'Été Eau de Toilette", ("50 ml", "100 ml"), 72.0),
        ("Ambre Soleil Parfum", ("50 ml",), 138.0),
        ("Fleur de Sel Body Mist", ("150 ml",), 38.0),
        ("Bois Sacré Candle", ("220 g",), 54.0),
        ("Rose Noire Eau de Parfum", ("50 ml", "100 ml"), 118.0),
        ("Discovery Vial Set", ("8 x 2 ml",), 32.0),
        ("Travel Spray Refill", ("Lumière", "Nuit Blanche"), 45.0),
        ("Scented Hair Perfume", ("50 ml",), 42.0),
        ("Reed Diffuser", ("200 ml",), 68.0),
        ("Oud Velours Eau de Parfum", ("50 ml", "100 ml"), 145.0),
        ("Figue Blanche Eau de Toilette", ("50 ml", "100 ml"), 68.0),
        ("Néroli Body Oil", ("100 ml", "200 ml"), 48.0),
        ("Gift Coffret", ("Lumière", "Rose Noire"), 120.0),
    ),
    "Apparel": (
        ("Silk Pillowcase", ("Ivory", "Blush", "Charcoal"), 79.0),
        ("Cashmere Lounge Wrap", ("Oat", "Grey"), 189.0),
        ("Satin Sleep Set", ("XS", "S", "M", "L", "XL"), 128.0),
        ("Waffle Spa Robe", ("S/M", "L/XL"), 96.0),
        ("Linen Shirt Dress", ("XS", "S", "M", "L", "XL"), 148.0),
        ("Ribbed Knit Top", ("XS", "S", "M", "L", "XL"), 58.0),
        ("Signature Tote Bag", ("Canvas", "Leather"), 85.0),
        ("Silk Scarf", ("Monogram", "Floral"), 95.0),
        ("Spa Headband", ("Ivory", "Blush"), 22.0),
        ("Salon Stylist Apron", ("Black",), 48.0),
        ("Organic Cotton Tee", ("S", "M", "L"), 42.0),
    ),
}


def catalogue() -> list[tuple[str, str, str, float, float]]:
    """The ~120 SKUs as ``(sku, product_line, title, retail_price, popularity)``, in a fixed order.

    Prices scale with variant size (later variants cost more); popularity falls with price and
    position (a Zipf-like head of best sellers in each line).

    >>> cat = catalogue()
    >>> len(cat) >= 100, cat[0][0], cat[0][1]
    (True, 'LUM-SK-0101', 'Skincare')
    """
    out: list[tuple[str, str, str, float, float]] = []
    for li, (line, products) in enumerate(_CATALOGUE.items()):
        code = LINE_CODES[li]
        for pi, (name, variants, base) in enumerate(products, start=1):
            for vi, variant in enumerate(variants, start=1):
                step = 1.0 + 0.55 * (vi - 1) if any(c.isdigit() for c in variant) else 1.0
                price = round(base * step) - 0.01 if base * step >= 10 else base * step
                popularity = 1.0 / (pi ** 0.8) / (1.0 + 0.4 * (vi - 1)) * (60.0 / (price + 30.0))
                out.append((f"LUM-{code}-{pi:02d}{vi:02d}", line, f"{name} - {variant}",
                            float(price), float(popularity)))
    return out
