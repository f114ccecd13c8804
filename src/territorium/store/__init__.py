"""territorium.store"""
