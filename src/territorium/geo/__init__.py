"""territorium.geo"""
