"""Small builders of real export files for the import tests."""
from __future__ import annotations

from pathlib import Path

SF_ACCOUNT_HEADER = ("Id,Name,Type,Industry,BillingStreet,BillingCity,BillingState,BillingPostalCode,"
                     "BillingCountry,AnnualRevenue,NumberOfEmployees,OwnerId,Segment__c,Tier__c,"
                     "Product_Lines__c,Potential__c")

GOOD_ACCOUNTS = [
    "001A,Salon One,Customer,Salon,1 Main St,Boston,MA,02134,US,1000000,12,005X,SMB,A,skincare;haircare,50000",
    "001B,Spa Two,Prospect,Spa,2 Elm St,Springfield,IL,62701,US,5000,3,005X,SMB,B,,",
    "001C,Boutique Three,Customer,Boutique,3 Oak Ave,New York,NY,10001,US,250000,8,005Y,SMB,C,fragrance,",
]

SHOPIFY_HEADER = ("Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
                  "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
                  "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,"
                  "Lineitem sku,Billing Zip,Billing Province,Billing Country,Shipping Zip,Shipping Province,"
                  "Shipping Country,Id")


def shopify_line(name, email="", status="", currency="", subtotal="", total="", created="", qty="1",
                 item="Glow Serum", price="10.00", sku="SKU-1", zip_="", prov="", country="", disc="",
                 code="") -> str:
    return ",".join([
        name, email, status, "", "", "", "", currency, subtotal, "", "", total, code, disc, "", created, qty,
        item, price, "", sku, zip_, prov, country, zip_, prov, country, "",
    ])


GOOD_ORDERS = [
    shopify_line("#1001", "Ann@Example.com", "paid", "USD", "30.00", "36.95", "2025-03-01 10:00:00 -0500",
                 "1", "Glow Serum", "10.00", "SKU-1", "'02134", "MA", "US"),
    shopify_line("#1001", created="2025-03-01 10:00:00 -0500", qty="2", item="Silk Shampoo", price="10.00",
                 sku="SKU-2"),
    shopify_line("#1002", "bob@example.com", "paid", "USD", "15.00", "20.00", "2025-03-02 11:00:00 -0500",
                 "1", "Rose Balm", "15.00", "SKU-3", "10001", "New York", "United States"),
    shopify_line("#1003", "cy@example.com", "pending", "USD", "45.00", "45.00", "2025-03-03 12:00:00 -0500",
                 "3", "Velvet Oil", "15.00", "SKU-4", "60601", "IL", "US"),
    shopify_line("#1003", created="2025-03-03 12:00:00 -0500", qty="1", item="Hydra Mask", price="0.00",
                 sku="SKU-5"),
    shopify_line("#1003", created="2025-03-03 12:00:00 -0500", qty="1", item="Silk Tee", price="0.00",
                 sku="SKU-6"),
]


def write(path: Path, header: str, rows: list[str], encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.write_bytes((newline.join([header, *rows]) + newline).encode(encoding))
    return path
