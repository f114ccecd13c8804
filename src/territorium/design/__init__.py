"""territorium.design"""
